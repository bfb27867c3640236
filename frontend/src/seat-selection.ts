// Choosing seats on a seat map: what may be selected, what live changes do to a
// selection, how the keyboard moves across the map, and how seats are named to people.

import type { Seat, SeatMap, SeatStatus } from "./api";

/** The most seats one hold may take (the API's `max_seats_per_hold`). */
export const MAX_SEATS = 8;

export interface Located {
  seat: Seat;
  section: string;
  row: string;
  /** Position in the map's reading order: section, then row, then seat. */
  sectionIndex: number;
  rowIndex: number;
  seatIndex: number;
}

export type SeatIndex = Map<number, Located>;

export function indexSeats(map: SeatMap): SeatIndex {
  const index: SeatIndex = new Map();
  map.sections.forEach((section, sectionIndex) =>
    section.rows.forEach((row, rowIndex) =>
      row.seats.forEach((seat, seatIndex) =>
        index.set(seat.id, { seat, section: section.name, row: row.name, sectionIndex, rowIndex, seatIndex }),
      ),
    ),
  );
  return index;
}

export interface Toggled {
  selected: number[];
  /** Why the seat could not be added, for the user. */
  refusal?: string;
}

/** Adds or removes a seat; only available seats may be added, and at most `max`. */
export function toggleSeat(selected: readonly number[], seat: Seat, max = MAX_SEATS): Toggled {
  if (selected.includes(seat.id)) return { selected: selected.filter((id) => id !== seat.id) };
  if (seat.status !== "available") {
    return { selected: [...selected], refusal: `That seat is ${seat.status === "sold" ? "sold" : "held by someone"}.` };
  }
  if (selected.length >= max) {
    return { selected: [...selected], refusal: `You can pick up to ${max} seats at a time.` };
  }
  return { selected: [...selected, seat.id] };
}

export interface SeatChange {
  event_id: number;
  seat_ids: number[];
  status: SeatStatus;
}

export interface Applied {
  map: SeatMap;
  selected: number[];
  /** Seats the user had selected that someone else just took. */
  lost: number[];
}

/**
 * Applies a live `seat.changed` to the map. Seats the user selected and someone else took
 * leave the selection; seats in `mine` (the user's own hold) are not someone else's.
 */
export function applySeatChange(
  map: SeatMap,
  selected: readonly number[],
  change: SeatChange,
  mine: readonly number[] = [],
): Applied {
  if (change.event_id !== map.event_id) return { map, selected: [...selected], lost: [] };
  const changed = new Set(change.seat_ids);
  const next: SeatMap = {
    ...map,
    sections: map.sections.map((section) => ({
      ...section,
      rows: section.rows.map((row) =>
        row.seats.some((s) => changed.has(s.id))
          ? { ...row, seats: row.seats.map((s) => (changed.has(s.id) ? { ...s, status: change.status } : s)) }
          : row,
      ),
    })),
  };
  const taken = change.status !== "available";
  const lost = taken ? selected.filter((id) => changed.has(id) && !mine.includes(id)) : [];
  return { map: next, selected: selected.filter((id) => !lost.includes(id)), lost };
}

/** Keeps a selection consistent with a freshly loaded map: seats no longer available drop out. */
export function reconcile(map: SeatMap, selected: readonly number[]): { selected: number[]; lost: number[] } {
  const index = indexSeats(map);
  const lost = selected.filter((id) => index.get(id)?.seat.status !== "available");
  return { selected: selected.filter((id) => !lost.includes(id)), lost };
}

export function describeSeat(located: Located): string {
  return `${located.section}, row ${located.row}, seat ${located.seat.number}`;
}

/** "Stalls, row B, seat 4; Stalls, row B, seat 5" for seats of the map, in map order. */
export function describeSeats(index: SeatIndex, ids: readonly number[]): string {
  return ids
    .map((id) => index.get(id))
    .filter((l): l is Located => l !== undefined)
    .sort((a, b) => a.sectionIndex - b.sectionIndex || a.rowIndex - b.rowIndex || a.seatIndex - b.seatIndex)
    .map(describeSeat)
    .join("; ");
}

export function totalCents(index: SeatIndex, ids: readonly number[]): number {
  return ids.reduce((sum, id) => sum + (index.get(id)?.seat.price_cents ?? 0), 0);
}

/** Price tiers from dearest to cheapest, each with its colour slot (0 = dearest). */
export function tierSlots(map: SeatMap): Map<string, number> {
  const prices = new Map<string, number>();
  for (const section of map.sections)
    for (const row of section.rows) for (const seat of row.seats) prices.set(seat.tier, seat.price_cents);
  const ordered = [...prices.entries()].sort((a, b) => b[1] - a[1]);
  return new Map(ordered.map(([tier], slot) => [tier, slot]));
}

export type Direction = "left" | "right" | "up" | "down" | "home" | "end";

/**
 * The seat the keyboard moves to: left and right along the row, up and down to the nearest
 * seat by position in the neighbouring row (crossing into the next section), home and end
 * to the row's ends. Stays put at the map's edges.
 */
export function moveFrom(map: SeatMap, index: SeatIndex, from: number, direction: Direction): number {
  const here = index.get(from);
  if (!here) return from;
  const rows = map.sections.flatMap((section) => section.rows);
  const rowPosition = rows.indexOf(map.sections[here.sectionIndex].rows[here.rowIndex]);
  const row = rows[rowPosition].seats;
  switch (direction) {
    case "left":
      return row[Math.max(0, here.seatIndex - 1)].id;
    case "right":
      return row[Math.min(row.length - 1, here.seatIndex + 1)].id;
    case "home":
      return row[0].id;
    case "end":
      return row[row.length - 1].id;
    case "up":
    case "down": {
      const target = rows[rowPosition + (direction === "up" ? -1 : 1)];
      if (!target || target.seats.length === 0) return from;
      const share = row.length > 1 ? here.seatIndex / (row.length - 1) : 0;
      return target.seats[Math.round(share * (target.seats.length - 1))].id;
    }
  }
}
