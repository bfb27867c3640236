// An event's virtual waiting room from the buyer's side: joining, the place in line and
// the wait, kept up to date by the sidecar's `queue.advanced` messages (one per room for
// everyone: a buyer's position is their number minus `admitted_through`) or by polling.

import { privateJson } from "./api";
import { rememberAdmission } from "./admission";

export type QueueStateName = "off" | "not_open" | "pre_queue" | "not_joined" | "waiting" | "admitted" | "expired";

/** `GET /api/events/{id}/queue` (docs/openapi.yaml, QueueState). */
export interface QueueState {
  event_id: number;
  state: QueueStateName;
  opens_at?: string;
  admits_from?: string;
  admit_per_minute?: number | null;
  number?: number;
  admitted_through?: number;
  position?: number;
  estimated_wait_seconds?: number | null;
  poll_after_seconds?: number;
  admission_token?: string;
  expires_at?: string;
  expired_at?: string;
}

export const queueApi = {
  join: (eventId: number) => privateJson<QueueState>(`/api/events/${eventId}/queue`, { method: "POST" }),
  state: (eventId: number) => privateJson<QueueState>(`/api/events/${eventId}/queue`),
};

/** Whether a buyer in this state may go on to the seat map. */
export function mayBuy(state: QueueState): boolean {
  return state.state === "off" || state.state === "admitted";
}

/** Keeps the admission of an admitted state for the event's holds; whether there was one. */
export function keepAdmission(state: QueueState): boolean {
  if (state.state !== "admitted" || !state.admission_token || !state.expires_at) return false;
  rememberAdmission(state.event_id, { token: state.admission_token, expiresAt: state.expires_at });
  return true;
}

/**
 * The state after the room admitted everyone up to `admittedThrough` (a live message):
 * the position moves, the estimate with it; `due` when the buyer's own turn came, and the
 * token should be asked for.
 */
export function advance(state: QueueState, admittedThrough: number): { state: QueueState; due: boolean } {
  if (state.state !== "waiting" || state.number === undefined) return { state, due: false };
  if (admittedThrough <= (state.admitted_through ?? 0)) return { state, due: false };
  const position = state.number - admittedThrough;
  if (position <= 0) return { state: { ...state, admitted_through: admittedThrough, position: 0 }, due: true };
  const perMinute = state.admit_per_minute;
  return {
    state: {
      ...state,
      admitted_through: admittedThrough,
      position,
      estimated_wait_seconds: perMinute ? Math.ceil((position * 60) / perMinute) : null,
    },
    due: false,
  };
}

/** "about 3 minutes", "less than a minute", or "" when the room admits as seats allow. */
export function describeWait(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return "less than a minute";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `about ${hours} h ${rest} min`;
}
