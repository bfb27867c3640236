// The scanner's data in IndexedDB, so it works offline: the gate bundle of each event it
// scans, and every scan it made (pending ones wait here for the upload). Kept across
// sign-outs, since pending scans must not be lost.

import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { GateBundle, GateEvent } from "./gate-api";
import type { ScanRecord, ScanStore } from "./queue";

export interface SavedBundle {
  event: GateEvent;
  bundle: GateBundle;
  savedAt: string;
}

interface GateSchema extends DBSchema {
  bundles: { key: number; value: SavedBundle };
  scans: { key: string; value: ScanRecord; indexes: { byEvent: number } };
}

let database: Promise<IDBPDatabase<GateSchema>> | null = null;

function db() {
  database ??= openDB<GateSchema>("ticketbuster-gate", 1, {
    upgrade(d) {
      d.createObjectStore("bundles", { keyPath: "event.id" });
      d.createObjectStore("scans", { keyPath: "nonce" }).createIndex("byEvent", "event_id");
    },
  });
  return database;
}

export async function saveBundle(saved: SavedBundle) {
  await (await db()).put("bundles", saved);
}

export async function savedBundle(eventId: number): Promise<SavedBundle | undefined> {
  return (await db()).get("bundles", eventId);
}

export async function savedBundles(): Promise<SavedBundle[]> {
  return (await db()).getAll("bundles");
}

export async function scansOf(eventId: number): Promise<ScanRecord[]> {
  return (await db()).getAllFromIndex("scans", "byEvent", eventId);
}

export const scanStore: ScanStore = {
  async pendingScans() {
    return (await (await db()).getAll("scans")).filter((s) => s.pending);
  },
  async saveScans(records) {
    const tx = (await db()).transaction("scans", "readwrite");
    await Promise.all([...records.map((r) => tx.store.put(r)), tx.done]);
  },
};
