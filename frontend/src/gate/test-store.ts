// An in-memory ScanStore for the tests, shaped like the IndexedDB one.

import type { ScanRecord } from "./queue";

export function memoryStore(initial: ScanRecord[] = []) {
  const records = new Map(initial.map((r) => [r.nonce, r]));
  return {
    records,
    async pendingScans() {
      return [...records.values()].filter((r) => r.pending);
    },
    async saveScans(saved: ScanRecord[]) {
      for (const r of saved) records.set(r.nonce, r);
    },
    async scansOf(eventId: number) {
      return [...records.values()].filter((r) => r.event_id === eventId);
    },
  };
}
