import { cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { afterEach, describe, expect, it } from "vitest";
import type { SeatMap } from "../api";
import { indexSeats, toggleSeat } from "../seat-selection";
import { SeatMapView } from "./seat-map";

const map: SeatMap = {
  event_id: 1,
  currency: "EUR",
  sections: [
    {
      name: "Stalls",
      rows: [
        {
          name: "A",
          seats: [
            { id: 1, number: 1, status: "sold", tier: "Standard", price_cents: 4500 },
            { id: 2, number: 2, status: "available", tier: "Standard", price_cents: 4500 },
            { id: 3, number: 3, status: "available", tier: "Standard", price_cents: 4500 },
          ],
        },
      ],
    },
  ],
};

function Harness() {
  const [selected, setSelected] = useState<number[]>([]);
  const index = indexSeats(map);
  return (
    <SeatMapView
      map={map}
      index={index}
      selected={selected}
      mine={[]}
      onToggle={(id) => setSelected((s) => toggleSeat(s, index.get(id)!.seat).selected)}
    />
  );
}

const seatButton = (n: number) => screen.getByRole("button", { name: new RegExp(`row A, seat ${n},`) });

describe("the seat map", () => {
  afterEach(cleanup);

  it("labels every seat with its place, price and status", () => {
    render(<Harness />);
    expect(seatButton(1).getAttribute("aria-label")).toMatch(/^Stalls, row A, seat 1, Standard, .*45.*, sold$/);
    expect(seatButton(1).getAttribute("aria-disabled")).toBe("true");
  });

  it("selects with a click and keeps sold seats out", () => {
    render(<Harness />);
    fireEvent.click(seatButton(2));
    expect(seatButton(2).getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(seatButton(1));
    expect(seatButton(1).getAttribute("aria-pressed")).toBe("false");
    fireEvent.click(seatButton(2));
    expect(seatButton(2).getAttribute("aria-pressed")).toBe("false");
  });

  it("puts the first free seat in the tab order and moves with the arrow keys", () => {
    render(<Harness />);
    expect(seatButton(2).tabIndex).toBe(0);
    expect(seatButton(1).tabIndex).toBe(-1);
    seatButton(2).focus();
    fireEvent.keyDown(seatButton(2), { key: "ArrowRight" });
    expect(document.activeElement).toBe(seatButton(3));
    expect(seatButton(3).tabIndex).toBe(0);
    fireEvent.keyDown(seatButton(3), { key: "Home" });
    expect(document.activeElement).toBe(seatButton(1));
  });
});
