// One scan at the gate: the server decides when it can be reached; when it cannot (offline,
// or the request failed on the way or on its side) the scanner decides from the gate
// bundle and queues the admission for upload with the same nonce, so a request that did
// reach the server is not counted twice.

import { ApiError } from "../api";
import type { BatchResult, BatchScan, CheckinAnswer, GateBundle } from "./gate-api";
import { admittedHere, newNonce, type ScanRecord, type ScanStore } from "./queue";
import { offlineVerdict, type Verdict } from "./verdict";

export interface ScannerDeps {
  checkin(code: string, nonce: string): Promise<CheckinAnswer>;
  batch(scans: BatchScan[]): Promise<BatchResult[]>;
  store: ScanStore & { scansOf(eventId: number): Promise<ScanRecord[]> };
  online(): boolean;
  now(): Date;
}

/** A failure the server cannot be blamed for not answering: the gate decides offline. */
function unreachable(e: unknown): boolean {
  return !(e instanceof ApiError) || e.status >= 500;
}

export async function scanCode(deps: ScannerDeps, bundle: GateBundle, code: string): Promise<Verdict> {
  const nonce = newNonce();
  const scannedAt = deps.now().toISOString();
  const record = { nonce, event_id: bundle.event_id, code, scanned_at: scannedAt };
  if (deps.online()) {
    try {
      const answer = await deps.checkin(code, nonce);
      await deps.store.saveScans([{ ...record, ticket_id: answer.ticket_id, status: answer.status, pending: false }]);
      return { ...answer, offline: false };
    } catch (e) {
      if (!unreachable(e)) throw e;
    }
  }
  const verdict = await offlineVerdict(code, bundle, admittedHere(await deps.store.scansOf(bundle.event_id), bundle.event_id));
  // Only admissions are check-ins the server must hear of; refusals stay in the local history.
  await deps.store.saveScans([
    { ...record, ticket_id: verdict.ticket_id, status: verdict.status, pending: verdict.status === "ok" },
  ]);
  return verdict;
}
