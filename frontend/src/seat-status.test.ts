import { describe, expect, it } from "vitest";
import type { SeatLayout, SeatStatusDocument } from "./api";
import { ChangeSequence, decodeStatuses, seatMapOf, type NumberedChange } from "./seat-status";

const layout: SeatLayout = {
  event_id: 7,
  version: "v1",
  currency: "EUR",
  seat_count: 5,
  tiers: [
    { name: "VIP", price_cents: 9000 },
    { name: "Standard", price_cents: 4500 },
  ],
  sections: [
    {
      name: "Stalls",
      rows: [
        {
          name: "A",
          seats: [
            { id: 11, number: 1, tier: "VIP" },
            { id: 12, number: 2, tier: "VIP" },
          ],
        },
        {
          name: "B",
          seats: [
            { id: 21, number: 1, tier: "Standard" },
            { id: 22, number: 2, tier: "Standard" },
            { id: 23, number: 3, tier: "Standard" },
          ],
        },
      ],
    },
  ],
};

/** sold, held, available, held | sold: 0b01_00_01_10, 0b00_00_00_10 (as the server packs them). */
const status: SeatStatusDocument = {
  event_id: 7,
  layout_version: "v1",
  revision: 40,
  encoding: "2bit-base64",
  seat_count: 5,
  data: btoa(String.fromCharCode(0b0100_0110, 0b0000_0010)),
};

function change(seq: number, seatIds: number[], state: NumberedChange["status"] = "held"): NumberedChange {
  return { seq, event_id: 7, seat_ids: seatIds, status: state };
}

describe("the status document", () => {
  it("decodes two bits a seat, the first seat in the lowest bits", () => {
    expect(decodeStatuses(status.data, 5)).toEqual(["sold", "held", "available", "held", "sold"]);
    // The server's own test vector (crates/domain/src/seat_status.rs).
    expect(decodeStatuses("Rg==", 4)).toEqual(["sold", "held", "available", "held"]);
  });

  it("refuses data of the wrong length or with the unused code", () => {
    expect(() => decodeStatuses(status.data, 9)).toThrow();
    expect(() => decodeStatuses(btoa(String.fromCharCode(0b11)), 1)).toThrow();
  });

  it("with the layout makes the map the page draws", () => {
    const map = seatMapOf(layout, status);
    expect(map.currency).toBe("EUR");
    expect(map.sections[0].rows.map((r) => r.seats.map((s) => [s.id, s.status, s.price_cents]))).toEqual([
      [
        [11, "sold", 9000],
        [12, "held", 9000],
      ],
      [
        [21, "available", 4500],
        [22, "held", 4500],
        [23, "sold", 4500],
      ],
    ]);
    expect(() => seatMapOf({ ...layout, version: "v2" }, status)).toThrow();
  });
});

describe("live changes over a status document", () => {
  it("applies the next numbers and drops what the document already has", () => {
    const sequence = new ChangeSequence();
    expect(sequence.document(40)).toEqual({ use: true, replay: [], gap: false });
    expect(sequence.change(change(39, [21]))).toEqual({ apply: false, gap: false });
    expect(sequence.change(change(41, [21]))).toEqual({ apply: true, gap: false });
    expect(sequence.change(change(42, [22]))).toEqual({ apply: true, gap: false });
    expect(sequence.revision).toBe(42);
  });

  it("notices a missing number, and a later document closes the gap", () => {
    const sequence = new ChangeSequence();
    sequence.document(40);
    expect(sequence.change(change(43, [21]))).toEqual({ apply: true, gap: true });
    expect(sequence.revision).toBe(40);
    // The document is up to date with 42: 43 is applied again on top of it.
    const plan = sequence.document(42);
    expect(plan).toEqual({ use: true, replay: [change(43, [21])], gap: false });
    expect(sequence.revision).toBe(43);
  });

  it("a late missing change closes the gap by itself", () => {
    const sequence = new ChangeSequence();
    sequence.document(40);
    sequence.change(change(42, [22]));
    expect(sequence.change(change(41, [21]))).toEqual({ apply: true, gap: false });
    expect(sequence.revision).toBe(42);
  });

  it("ignores a document older than the map unless a change is missing", () => {
    const sequence = new ChangeSequence();
    sequence.document(40);
    sequence.change(change(41, [21]));
    expect(sequence.document(39).use).toBe(false);
    expect(sequence.revision).toBe(41);

    sequence.change(change(45, [23]));
    // Older, but the map misses 42 to 44: the document is used and the kept changes replayed.
    const plan = sequence.document(40);
    expect(plan.use).toBe(true);
    expect(plan.replay.map((c) => c.seq)).toEqual([41, 45]);
    expect(plan.gap).toBe(true);
    expect(sequence.revision).toBe(41);
  });

  it("keeps changes that come before the first document, to apply on it", () => {
    const sequence = new ChangeSequence();
    expect(sequence.change(change(41, [21]))).toEqual({ apply: false, gap: false });
    expect(sequence.change(change(42, [22]))).toEqual({ apply: false, gap: false });
    const plan = sequence.document(41);
    expect(plan.replay.map((c) => c.seq)).toEqual([42]);
    expect(sequence.revision).toBe(42);
  });
});
