// The organizer's event form as data: what is typed (prices as text, dates in the
// browser's local time) turned into the API's request body, rows added a block at a time,
// a seat map to preview the layout with, and where on the form an API error belongs.

import type { EventText, SeatMap } from "./api";
import type { LayoutSection, NewEvent } from "./organizer-api";

export interface TierDraft {
  name: string;
  /** As typed, in the currency's main unit ("12.50"). */
  price: string;
}

export interface EventDraft extends EventText {
  /** `datetime-local` values ("2026-12-01T20:00"), in the browser's time zone. */
  starts_at: string;
  ends_at: string;
  sales_start: string;
  sales_end: string;
  /** Empty for the API's default. */
  max_tickets_per_account: string;
  tiers: TierDraft[];
  sections: LayoutSection[];
}

/** A new form: one tier, one empty section, sales open from now. */
export function emptyDraft(now: Date): EventDraft {
  return {
    title: "",
    category: "concert",
    description: "",
    venue: "",
    city: "",
    starts_at: "",
    ends_at: "",
    sales_start: localInput(now),
    sales_end: "",
    max_tickets_per_account: "",
    tiers: [{ name: "Standard", price: "" }],
    sections: [{ name: "Stalls", rows: [] }],
  };
}

/** A `datetime-local` value for a moment, in the browser's time zone, to the minute. */
export function localInput(moment: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}` +
    `T${pad(moment.getHours())}:${pad(moment.getMinutes())}`
  );
}

/** An RFC 3339 instant for a `datetime-local` value; empty stays empty for the API to judge. */
export function instant(local: string): string {
  const moment = new Date(local);
  return Number.isNaN(moment.getTime()) ? local : moment.toISOString();
}

/** "12.50" or "12,50" → 1250. Anything else gives 0, which the API refuses by the tier's name. */
export function priceCents(text: string): number {
  const value = Number(text.trim().replace(",", "."));
  return Number.isFinite(value) ? Math.round(value * 100) : 0;
}

/** Row names as venues print them: A … Z, then AA, AB … */
export function rowName(index: number): string {
  let name = "";
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  }
  return name;
}

/** Appends `count` rows of `seats` seats in `tier`, named after the first names not taken. */
export function addRows(section: LayoutSection, count: number, seats: number, tier: string): LayoutSection {
  const taken = new Set(section.rows.map((r) => r.name));
  const rows = [...section.rows];
  for (let i = 0; rows.length < section.rows.length + count; i++) {
    const name = rowName(i);
    if (!taken.has(name)) rows.push({ name, seats, tier });
  }
  return { ...section, rows };
}

export function seatCount(sections: readonly LayoutSection[]): number {
  return sections.reduce((n, s) => n + s.rows.reduce((m, r) => m + Math.max(0, r.seats), 0), 0);
}

/** The body POST /api/organizer/events takes. Optional fields left empty are left out. */
export function requestBody(draft: EventDraft): NewEvent {
  const body: NewEvent = {
    title: draft.title.trim(),
    category: draft.category,
    description: draft.description.trim(),
    venue: draft.venue.trim(),
    city: draft.city.trim(),
    starts_at: instant(draft.starts_at),
    sales_start: instant(draft.sales_start),
    tiers: draft.tiers.map((t) => ({ name: t.name.trim(), price_cents: priceCents(t.price) })),
    sections: draft.sections.map((s) => ({
      name: s.name.trim(),
      rows: s.rows.map((r) => ({ name: r.name.trim(), seats: r.seats, tier: r.tier })),
    })),
  };
  if (draft.ends_at) body.ends_at = instant(draft.ends_at);
  if (draft.sales_end) body.sales_end = instant(draft.sales_end);
  if (draft.max_tickets_per_account.trim()) body.max_tickets_per_account = Number(draft.max_tickets_per_account);
  return body;
}

/** Above this many seats the preview draws the first ones only, so typing stays quick. */
export const PREVIEW_SEATS = 2_000;

/**
 * The layout as the buyer's seat map will show it: every seat available at its tier's
 * price. Ids are made up (1, 2, …); rows naming a tier that does not exist show at 0.
 */
export function previewMap(draft: EventDraft, currency: string): SeatMap {
  const prices = new Map(draft.tiers.map((t) => [t.name.trim(), priceCents(t.price)]));
  let id = 0;
  return {
    event_id: 0,
    currency,
    sections: draft.sections.map((section) => ({
      name: section.name || "(unnamed section)",
      rows: section.rows.map((row) => {
        const shown = Math.max(0, Math.min(row.seats, PREVIEW_SEATS - id));
        return {
          name: row.name,
          seats: Array.from({ length: shown }, (_, i) => ({
            id: ++id,
            number: i + 1,
            status: "available" as const,
            price_cents: prices.get(row.tier) ?? 0,
            tier: row.tier,
          })),
        };
      }),
    })),
  };
}

/**
 * The form field an API error path belongs to: the path itself when the form has it,
 * else its nearest enclosing part (`sections[1].rows[2]` → `sections[1].rows` →
 * `sections[1]` → `sections`); undefined when nothing on the form encloses it.
 */
export function fieldFor(path: string, fields: ReadonlySet<string>): string | undefined {
  for (let p = path; p; p = p.replace(/(\.[^.[\]]+|\[\d+\])$/, "")) {
    if (fields.has(p)) return p;
    if (!/(\.[^.[\]]+|\[\d+\])$/.test(p)) break;
  }
  return undefined;
}
