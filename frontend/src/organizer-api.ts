// The organizer's side of the API: events built from a layout, their sales, attendees and
// gate staff (the contract in /api/organizer/...).

import { authorizedFetch } from "./session";
import { ApiError, jsonBody, privateJson, readJson, type EventText } from "./api";

export type EventStatus = "draft" | "published" | "cancelled";

export interface LayoutRow {
  name: string;
  seats: number;
  tier: string;
}
export interface LayoutSection {
  name: string;
  rows: LayoutRow[];
}

/** The body of POST /api/organizer/events. */
export interface NewEvent extends EventText {
  starts_at: string;
  ends_at?: string;
  sales_start: string;
  sales_end?: string;
  max_tickets_per_account?: number;
  tiers: { name: string; price_cents: number }[];
  sections: LayoutSection[];
}

export interface OrganizerEvent extends EventText {
  id: number;
  status: EventStatus;
  starts_at: string;
  ends_at: string | null;
  sales_start: string;
  sales_end: string | null;
  max_tickets_per_account: number | null;
  currency: string;
  seat_count: number;
  tiers: { id: number; name: string; price_cents: number }[];
  /** Left out of the list. */
  sections?: LayoutSection[];
}

export interface TierSales {
  tier_id: number;
  name: string;
  price_cents: number;
  sold: number;
  held: number;
  available: number;
}
export interface Sales {
  event_id: number;
  currency: string;
  tiers: TierSales[];
  totals: { sold: number; held: number; available: number };
  revenue_cents: number;
  orders_last_hour: number;
  /** The last 60 minutes, oldest first. */
  orders_per_minute: { minute: string; orders: number }[];
}

export interface GateStaff {
  user_id: string;
  email: string;
  name: string;
  added_at: string;
}

const base = "/api/organizer/events";

export const organizerApi = {
  create: (event: NewEvent) => privateJson<OrganizerEvent>(base, jsonBody(event, { method: "POST" })),
  list: () => privateJson<{ events: OrganizerEvent[] }>(base),
  event: (id: number) => privateJson<OrganizerEvent>(`${base}/${id}`),
  publish: (id: number) => privateJson<OrganizerEvent>(`${base}/${id}/publish`, { method: "POST" }),
  cancel: (id: number) =>
    privateJson<{ event: OrganizerEvent; cancelled_orders: number }>(`${base}/${id}/cancel`, { method: "POST" }),
  sales: (id: number) => privateJson<Sales>(`${base}/${id}/sales`),
  gateStaff: (id: number) => privateJson<{ gate_staff: GateStaff[] }>(`${base}/${id}/gate-staff`),
  addGateStaff: (id: number, email: string) =>
    privateJson<{ event_id: number; user_id: string; email: string; name: string }>(
      `${base}/${id}/gate-staff`,
      jsonBody({ email }, { method: "POST" }),
    ),
  attendeesCsv: async (id: number): Promise<Blob> => {
    const response = await authorizedFetch(`${base}/${id}/attendees.csv`);
    if (!response.ok) await readJson(response);
    return response.blob();
  },
};

/**
 * The part of a request a 422 names, e.g. `sections[1].rows[0].tier`. The API puts
 * details beside `error`; a nested `error.details` is read too.
 */
export function errorPath(e: unknown): string | undefined {
  if (!(e instanceof ApiError)) return undefined;
  const nested = (e.details.error as { details?: { path?: unknown } } | undefined)?.details?.path;
  const path = e.details.path ?? nested;
  return typeof path === "string" ? path : undefined;
}
