// The scanner's record of its scans. Scans decided offline wait here, with the moment they
// were made and a nonce, until they are uploaded in batches; the server's answer to each is
// kept beside it, so the gate sees which were double entries.

import { BATCH_LIMIT, type BatchResult, type BatchScan, type ScanStatus } from "./gate-api";
import { THIS_SCANNER, type AdmittedHere } from "./verdict";

export interface ScanRecord {
  /** Unique per scan; makes a repeated upload of the same scan harmless. */
  nonce: string;
  event_id: number;
  code: string;
  scanned_at: string;
  ticket_id?: string;
  /** What the gate showed. */
  status: ScanStatus;
  /** Decided offline and not uploaded yet. */
  pending: boolean;
  /** The server's answer once uploaded. */
  uploaded?: BatchResult;
}

/** Where scans are kept (IndexedDB in the app). */
export interface ScanStore {
  pendingScans(): Promise<ScanRecord[]>;
  saveScans(records: ScanRecord[]): Promise<void>;
}

export function newNonce(): string {
  return crypto.randomUUID();
}

/** Tickets this scanner let in for an event, so a second try is refused offline too. */
export function admittedHere(records: readonly ScanRecord[], eventId: number): Map<string, AdmittedHere> {
  const admitted = new Map<string, AdmittedHere>();
  for (const r of records) {
    if (r.event_id !== eventId || r.status !== "ok" || !r.ticket_id) continue;
    const known = admitted.get(r.ticket_id);
    if (!known || r.scanned_at < known.at) admitted.set(r.ticket_id, { at: r.scanned_at, gate: THIS_SCANNER });
  }
  return admitted;
}

/** Uploaded offline admissions the server found to be a second entry. */
export function doubleEntries(records: readonly ScanRecord[]): ScanRecord[] {
  return records.filter((r) => r.uploaded?.double_entry);
}

/**
 * Sends every pending scan, oldest first, in batches of at most `limit`, and keeps the
 * server's answer to each. Answers are matched by nonce (they come in the order sent). A
 * failed batch stops the upload and is thrown; the batches before it stay uploaded.
 */
export async function uploadPending(
  store: ScanStore,
  send: (scans: BatchScan[]) => Promise<BatchResult[]>,
  limit = BATCH_LIMIT,
): Promise<ScanRecord[]> {
  const pending = (await store.pendingScans()).sort((a, b) => a.scanned_at.localeCompare(b.scanned_at));
  const done: ScanRecord[] = [];
  for (let start = 0; start < pending.length; start += limit) {
    const batch = pending.slice(start, start + limit);
    const results = await send(batch.map(({ code, scanned_at, nonce }) => ({ code, scanned_at, nonce })));
    const byNonce = new Map(results.filter((r) => r.nonce).map((r) => [r.nonce, r]));
    const answered = batch.flatMap((scan, i) => {
      const result = byNonce.get(scan.nonce) ?? results[i];
      return result ? [{ ...scan, pending: false, uploaded: result }] : [];
    });
    await store.saveScans(answered);
    done.push(...answered);
  }
  return done;
}
