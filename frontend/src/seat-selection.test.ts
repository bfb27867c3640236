import { describe, expect, it } from "vitest";
import type { SeatMap, SeatStatus } from "./api";
import {
  applySeatChange,
  describeSeats,
  indexSeats,
  MAX_SEATS,
  moveFrom,
  reconcile,
  tierSlots,
  toggleSeat,
  totalCents,
} from "./seat-selection";

function seat(id: number, number: number, status: SeatStatus = "available", tier = "Standard", price = 4500) {
  return { id, number, status, tier, price_cents: price };
}

/** Stalls: row A seats 1-4 (Premium), row B seats 5-7; Balcony: row C seats 8-9. */
function seatMap(): SeatMap {
  return {
    event_id: 7,
    currency: "EUR",
    sections: [
      {
        name: "Stalls",
        rows: [
          { name: "A", seats: [1, 2, 3, 4].map((id) => seat(id, id, "available", "Premium", 9000)) },
          { name: "B", seats: [seat(5, 1), seat(6, 2, "held"), seat(7, 3, "sold")] },
        ],
      },
      { name: "Balcony", rows: [{ name: "C", seats: [seat(8, 1, "available", "Cheap", 2000), seat(9, 2, "available", "Cheap", 2000)] }] },
    ],
  };
}

describe("choosing seats", () => {
  const map = seatMap();
  const index = indexSeats(map);
  const at = (id: number) => index.get(id)!.seat;

  it("adds and removes available seats", () => {
    const one = toggleSeat([], at(1));
    expect(one).toEqual({ selected: [1] });
    expect(toggleSeat(one.selected, at(2)).selected).toEqual([1, 2]);
    expect(toggleSeat([1, 2], at(1)).selected).toEqual([2]);
  });

  it("refuses held and sold seats with a reason", () => {
    expect(toggleSeat([1], at(6))).toEqual({ selected: [1], refusal: "That seat is held by someone." });
    expect(toggleSeat([1], at(7))).toEqual({ selected: [1], refusal: "That seat is sold." });
  });

  it(`stops at ${MAX_SEATS} seats`, () => {
    const full = [10, 11, 12, 13, 14, 15, 16, 17];
    const result = toggleSeat(full, at(1));
    expect(result.selected).toEqual(full);
    expect(result.refusal).toBe("You can pick up to 8 seats at a time.");
    expect(toggleSeat([1, 2], at(3), 2).refusal).toBe("You can pick up to 2 seats at a time.");
  });

  it("names seats in map order and totals their prices", () => {
    expect(describeSeats(index, [8, 2, 5])).toBe("Stalls, row A, seat 2; Stalls, row B, seat 1; Balcony, row C, seat 1");
    expect(totalCents(index, [1, 8])).toBe(11000);
  });

  it("gives dearer tiers the first colours", () => {
    expect([...tierSlots(map)]).toEqual([
      ["Premium", 0],
      ["Standard", 1],
      ["Cheap", 2],
    ]);
  });
});

describe("live seat changes", () => {
  it("recolours the seats and drops taken ones from the selection", () => {
    const { map, selected, lost } = applySeatChange(seatMap(), [1, 2, 8], { event_id: 7, seat_ids: [2, 8], status: "held" });
    const index = indexSeats(map);
    expect(index.get(2)!.seat.status).toBe("held");
    expect(index.get(8)!.seat.status).toBe("held");
    expect(index.get(1)!.seat.status).toBe("available");
    expect(selected).toEqual([1]);
    expect(lost).toEqual([2, 8]);
  });

  it("does not count the user's own hold as lost", () => {
    const { selected, lost } = applySeatChange(seatMap(), [1, 2], { event_id: 7, seat_ids: [1, 2], status: "held" }, [1, 2]);
    expect(lost).toEqual([]);
    expect(selected).toEqual([1, 2]);
  });

  it("frees seats and ignores other events", () => {
    const freed = applySeatChange(seatMap(), [], { event_id: 7, seat_ids: [6, 7], status: "available" });
    expect(indexSeats(freed.map).get(6)!.seat.status).toBe("available");
    const other = seatMap();
    expect(applySeatChange(other, [1], { event_id: 8, seat_ids: [1], status: "sold" }).map).toBe(other);
  });

  it("reconciles a selection with a freshly read map", () => {
    expect(reconcile(seatMap(), [1, 6, 7])).toEqual({ selected: [1], lost: [6, 7] });
  });
});

describe("moving with the keyboard", () => {
  const map = seatMap();
  const index = indexSeats(map);
  it("moves along a row and stops at its ends", () => {
    expect(moveFrom(map, index, 2, "right")).toBe(3);
    expect(moveFrom(map, index, 4, "right")).toBe(4);
    expect(moveFrom(map, index, 1, "left")).toBe(1);
    expect(moveFrom(map, index, 3, "home")).toBe(1);
    expect(moveFrom(map, index, 1, "end")).toBe(4);
  });

  it("moves between rows by position, across sections", () => {
    expect(moveFrom(map, index, 4, "down")).toBe(7);
    expect(moveFrom(map, index, 1, "down")).toBe(5);
    expect(moveFrom(map, index, 7, "down")).toBe(9);
    expect(moveFrom(map, index, 8, "up")).toBe(5);
    expect(moveFrom(map, index, 2, "up")).toBe(2);
    expect(moveFrom(map, index, 9, "down")).toBe(9);
  });
});
