// The TicketBuster API as typed functions (docs/openapi.yaml is the contract).

import { admissionHeaders } from "./admission";
import { authorizedFetch } from "./session";

export type Category = "concert" | "theater" | "sports" | "festival" | "conference";
export const CATEGORIES: Category[] = ["concert", "theater", "sports", "festival", "conference"];
export type SortOrder = "date" | "-date" | "price" | "-price";

/** What an event is, as buyers read it and organizers write it. */
export interface EventText {
  title: string;
  category: Category;
  description: string;
  venue: string;
  city: string;
}

export interface EventSummary extends EventText {
  id: number;
  starts_at: string;
  currency: string;
  min_price_cents: number | null;
  max_price_cents: number | null;
  available_seats: number;
}

export interface EventDetail extends EventSummary {
  total_seats: number;
  price_tiers: { name: string; price_cents: number }[];
}

export interface EventPage {
  items: EventSummary[];
  total: number;
  page: number;
  page_size: number;
}

export type SeatStatus = "available" | "held" | "sold";
export interface Seat {
  id: number;
  number: number;
  status: SeatStatus;
  price_cents: number;
  tier: string;
}
export interface SeatRow {
  name: string;
  seats: Seat[];
}
export interface SeatMap {
  event_id: number;
  currency: string;
  sections: { name: string; rows: SeatRow[] }[];
}

/** What never changes of a seat map but with its prices; `version` names it (GET …/layout). */
export interface SeatLayout {
  event_id: number;
  version: string;
  currency: string;
  seat_count: number;
  tiers: { name: string; price_cents: number }[];
  sections: { name: string; rows: { name: string; seats: { id: number; number: number; tier: string }[] }[] }[];
}

/** Every seat's status, two bits each in the layout's order (GET …/seat-status). */
export interface SeatStatusDocument {
  event_id: number;
  layout_version: string;
  /** The number of the last live seat change included. */
  revision: number;
  encoding: "2bit-base64";
  seat_count: number;
  data: string;
}

/** `quantity` adjacent seats in one row, optionally of one tier and section (by name). */
export interface BestAvailableRequest {
  quantity: number;
  tier?: string;
  section?: string;
}

export interface Hold {
  hold_id: string;
  event_id: number;
  seat_ids: number[];
  expires_at: string;
}

export type OrderStatus = "PENDING" | "PROCESSING" | "COMPLETED" | "FAILED" | "CANCELLED";
export interface OrderAccepted {
  order_id: string;
  status: OrderStatus;
  status_url: string;
}
export interface OrderSummary {
  order_id: string;
  event_id: number;
  event_title: string;
  status: OrderStatus;
  total_cents: number;
  currency: string;
  seat_count: number;
  created_at: string;
}
export interface Order extends OrderSummary {
  status_reason: string;
  items: { seat_id: number; section: string; row: string; number: number; price_cents: number }[];
}
export interface Ticket {
  ticket_id: string;
  event_id: number;
  seat: { id: number; section: string; row: string; number: number };
  status: "valid" | "void" | "used";
  issued_at: string;
  code: string | null;
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: string;
}
export interface Tokens {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  user: User;
}

/** An answer the API gave with an error status, carrying its message and details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get unavailableSeatIds(): number[] {
    const ids = this.details.unavailable_seat_ids;
    return Array.isArray(ids) ? ids.filter((id): id is number => typeof id === "number") : [];
  }
}

/** What to tell the user about a failed request. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof DOMException && e.name === "TimeoutError") return "The server took too long to answer. Try again.";
  return navigator.onLine ? "Something went wrong. Try again." : "You are offline. Try again when you are back online.";
}

const TIMEOUT_MS = 15_000;

export async function readJson<T>(response: Response): Promise<T> {
  if (response.ok) return (await response.json()) as T;
  let body: { error?: { code?: string; message?: string } } & Record<string, unknown> = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page, say): the status alone speaks.
  }
  throw new ApiError(
    response.status,
    body.error?.code ?? "http_error",
    body.error?.message ?? `The server answered ${response.status}.`,
    body,
  );
}

async function publicJson<T>(path: string): Promise<T> {
  return readJson<T>(await fetch(path, { signal: AbortSignal.timeout(TIMEOUT_MS) }));
}

export async function privateJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  return readJson<T>(await authorizedFetch(path, init));
}

export function jsonBody(value: unknown, init: RequestInit = {}): RequestInit {
  return {
    ...init,
    body: JSON.stringify(value),
    headers: { "content-type": "application/json", ...(init.headers ?? {}) },
  };
}

export interface EventQuery {
  category?: Category;
  q?: string;
  from?: string;
  to?: string;
  sort?: SortOrder;
  page?: number;
  page_size?: number;
}

export function eventQueryString(query: EventQuery): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  return params.toString();
}

export const api = {
  events: (query: EventQuery) => publicJson<EventPage>(`/api/events?${eventQueryString(query)}`),
  event: (id: number) => publicJson<EventDetail>(`/api/events/${id}`),
  /** The layout at its versioned URL, which browsers may keep for ever. */
  seatLayout: (id: number, version: string) =>
    publicJson<SeatLayout>(`/api/events/${id}/layout?v=${encodeURIComponent(version)}`),
  /** The status, or `null` when it is still the one of `etag`. */
  seatStatus: async (id: number, etag?: string): Promise<{ status: SeatStatusDocument; etag: string } | null> => {
    const response = await fetch(`/api/events/${id}/seat-status`, {
      headers: etag ? { "if-none-match": etag } : {},
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (response.status === 304) return null;
    const status = await readJson<SeatStatusDocument>(response);
    return { status, etag: response.headers.get("etag") ?? "" };
  },

  /** A hold; sent again with the same `idempotencyKey`, it answers the hold already made. */
  hold: (eventId: number, seatIds: number[], idempotencyKey: string) =>
    privateJson<Hold>(
      `/api/events/${eventId}/holds`,
      jsonBody({ seat_ids: seatIds }, { method: "POST", headers: holdHeaders(eventId, idempotencyKey) }),
    ),
  /** A hold of seats the server picks: `409 not_enough_adjacent_seats` when no block is left. */
  holdBestAvailable: (eventId: number, request: BestAvailableRequest, idempotencyKey: string) =>
    privateJson<Hold>(
      `/api/events/${eventId}/holds`,
      jsonBody(request, { method: "POST", headers: holdHeaders(eventId, idempotencyKey) }),
    ),
  release: async (holdId: string, keepalive = false) => {
    const response = await authorizedFetch(`/api/holds/${holdId}`, { method: "DELETE", keepalive });
    if (!response.ok && response.status !== 404) await readJson(response);
  },

  placeOrder: (holdId: string, idempotencyKey: string) =>
    privateJson<OrderAccepted>(
      "/api/orders",
      jsonBody({ hold_id: holdId }, { method: "POST", headers: { "idempotency-key": idempotencyKey } }),
    ),
  order: (id: string) => privateJson<Order>(`/api/orders/${id}`),
  orders: () => privateJson<{ items: OrderSummary[] }>("/api/orders"),
  tickets: (orderId: string) => privateJson<{ items: Ticket[] }>(`/api/orders/${orderId}/tickets`),
  qrPng: async (ticketId: string): Promise<Blob> => {
    const response = await authorizedFetch(`/api/tickets/${ticketId}/qr.png?px=8`);
    if (!response.ok) await readJson(response);
    return response.blob();
  },

  register: (email: string, password: string, name: string) =>
    publicPost<Tokens>("/api/auth/register", { email, password, name }),
  login: (email: string, password: string) => publicPost<Tokens>("/api/auth/login", { email, password }),
};

function holdHeaders(eventId: number, idempotencyKey: string): Record<string, string> {
  return { ...admissionHeaders(eventId), "idempotency-key": idempotencyKey };
}

async function publicPost<T>(path: string, body: unknown): Promise<T> {
  return readJson<T>(
    await fetch(path, { ...jsonBody(body, { method: "POST" }), signal: AbortSignal.timeout(TIMEOUT_MS) }),
  );
}

// Building a formatter is costly and a seat map formats thousands of prices.
const priceFormats = new Map<string, Intl.NumberFormat>();
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatPrice(cents: number, currency: string): string {
  let format = priceFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    priceFormats.set(currency, format);
  }
  return format.format(cents / 100);
}

export function formatDate(iso: string): string {
  return dateFormat.format(new Date(iso));
}
