// The gate's side of the API: the events a gate account scans, check-ins one at a time or
// uploaded in a batch, and the bundle that lets a scanner check codes offline.

import { jsonBody, privateJson } from "../api";
import type { Ed25519Jwk } from "./ticket-code";

export type ScanStatus = "ok" | "already_redeemed" | "invalid" | "void" | "wrong_event";

export interface GateEvent {
  id: number;
  title: string;
  venue: string;
  city: string;
  starts_at: string;
}

/** What POST /api/checkins answers. */
export interface CheckinAnswer {
  status: ScanStatus;
  message: string;
  ticket_id?: string;
  event_id?: number;
  /** "Section / Row / Number". */
  seat?: string;
  first_checkin_at?: string;
  gate?: string;
}

export interface BatchScan {
  code: string;
  scanned_at: string;
  nonce?: string;
}

export interface BatchResult {
  nonce?: string;
  status: ScanStatus;
  ticket_id?: string;
  /** Admitted at two gates (or twice) while offline. */
  double_entry: boolean;
  first_checkin_at?: string;
  gate?: string;
  message: string;
}

export interface GateBundle {
  event_id: number;
  generated_at: string;
  issuer: string;
  keys: Ed25519Jwk[];
  void: string[];
  checked_in: string[];
}

/** The most scans one batch may carry. */
export const BATCH_LIMIT = 500;

export const gateApi = {
  events: () => privateJson<{ events: GateEvent[] }>("/api/checkins/events"),
  checkin: (code: string, nonce: string) =>
    privateJson<CheckinAnswer>("/api/checkins", jsonBody({ code, nonce }, { method: "POST" })),
  batch: (scans: BatchScan[]) =>
    privateJson<{ results: BatchResult[] }>("/api/checkins/batch", jsonBody({ scans }, { method: "POST" })),
  bundle: (eventId: number) => privateJson<GateBundle>(`/api/events/${eventId}/gate-bundle`),
};
