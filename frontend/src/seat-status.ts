// The seat map from its two documents: the layout (seats, rows, sections, tiers, prices),
// which a browser keeps, and the compact status (two bits a seat in the layout's order),
// numbered like the live `seat.changed` messages so that they can be applied on top of it
// and a missing one noticed.

import type { SeatLayout, SeatMap, SeatStatus, SeatStatusDocument } from "./api";
import type { SeatChange } from "./seat-selection";

const STATUSES: SeatStatus[] = ["available", "held", "sold"];

/** The statuses of `count` seats packed four to a byte, the first in the lowest bits (`2bit-base64`). */
export function decodeStatuses(data: string, count: number): SeatStatus[] {
  const bytes = atob(data);
  if (bytes.length !== Math.ceil(count / 4)) throw new Error(`status data of ${bytes.length} bytes for ${count} seats`);
  const statuses: SeatStatus[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const code = (bytes.charCodeAt(i >> 2) >> ((i & 3) * 2)) & 3;
    const status = STATUSES[code];
    if (!status) throw new Error(`seat ${i} has the unused code ${code}`);
    statuses[i] = status;
  }
  return statuses;
}

/** The seat map the page draws: the layout's seats with their prices and statuses. */
export function seatMapOf(layout: SeatLayout, status: SeatStatusDocument): SeatMap {
  if (status.layout_version !== layout.version) throw new Error("the status is of another layout");
  const statuses = decodeStatuses(status.data, status.seat_count);
  const prices = new Map(layout.tiers.map((t) => [t.name, t.price_cents]));
  let i = 0;
  return {
    event_id: layout.event_id,
    currency: layout.currency,
    sections: layout.sections.map((section) => ({
      name: section.name,
      rows: section.rows.map((row) => ({
        name: row.name,
        seats: row.seats.map((seat) => ({
          id: seat.id,
          number: seat.number,
          tier: seat.tier,
          price_cents: prices.get(seat.tier) ?? 0,
          status: statuses[i++],
        })),
      })),
    })),
  };
}

/** A live change as the sidecar relays it; `seq` numbers the event's changes. */
export interface NumberedChange extends SeatChange {
  seq: number;
}

/** Recent changes kept to apply again over an older status document. */
const KEPT_CHANGES = 1_000;

/**
 * Which live changes the shown map has. `revision` is the number of the last change it
 * includes with none missing before it; changes received beyond a missing one are kept and
 * shown, and the status is to be read again (`gap`).
 */
export class ChangeSequence {
  revision: number | null = null;
  private readonly recent = new Map<number, NumberedChange>();

  /**
   * A status document up to date with change `revision` arrived. It is used unless the
   * map is already further with nothing missing; `replay` are the changes to apply on top.
   */
  document(revision: number): { use: boolean; replay: NumberedChange[]; gap: boolean } {
    if (this.revision !== null && revision < this.revision && !this.gap()) {
      return { use: false, replay: [], gap: false };
    }
    this.revision = revision;
    const replay = [...this.recent.values()].filter((c) => c.seq > revision).sort((a, b) => a.seq - b.seq);
    this.advance();
    return { use: true, replay, gap: this.gap() };
  }

  /** A live change arrived: whether to show it, and whether one before it is missing. */
  change(change: NumberedChange): { apply: boolean; gap: boolean } {
    if (this.revision !== null && change.seq <= this.revision) return { apply: false, gap: false };
    this.recent.set(change.seq, change);
    this.forgetOld();
    if (this.revision === null) return { apply: false, gap: false };
    this.advance();
    return { apply: true, gap: this.gap() };
  }

  /** Whether a change the map should have is missing. */
  gap(): boolean {
    const revision = this.revision;
    return revision !== null && [...this.recent.keys()].some((seq) => seq > revision);
  }

  private advance() {
    while (this.revision !== null && this.recent.has(this.revision + 1)) this.revision += 1;
  }

  private forgetOld() {
    if (this.recent.size <= KEPT_CHANGES) return;
    const oldest = [...this.recent.keys()].sort((a, b) => a - b).slice(0, this.recent.size - KEPT_CHANGES);
    for (const seq of oldest) this.recent.delete(seq);
  }
}
