// The ticket wallet kept in IndexedDB, so tickets open offline: each order with its
// tickets and each ticket's QR image. Cleared on sign-out, since it is personal.

import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { OrderSummary, Ticket } from "./api";

export interface WalletOrder {
  order: OrderSummary;
  tickets: Ticket[];
  /** Who owns it, so another account on the same device never sees it. */
  userId: string;
  savedAt: number;
}

interface WalletSchema extends DBSchema {
  orders: { key: string; value: WalletOrder; indexes: { byUser: string } };
  qr: { key: string; value: Blob };
}

let database: Promise<IDBPDatabase<WalletSchema>> | null = null;

function db() {
  database ??= openDB<WalletSchema>("ticketbuster-wallet", 1, {
    upgrade(d) {
      d.createObjectStore("orders", { keyPath: "order.order_id" }).createIndex("byUser", "userId");
      d.createObjectStore("qr");
    },
  });
  return database;
}

export async function saveOrder(entry: WalletOrder, qrImages: Map<string, Blob>) {
  const tx = (await db()).transaction(["orders", "qr"], "readwrite");
  await tx.objectStore("orders").put(entry);
  for (const [ticketId, image] of qrImages) await tx.objectStore("qr").put(image, ticketId);
  await tx.done;
}

export async function walletOf(userId: string): Promise<WalletOrder[]> {
  const entries = await (await db()).getAllFromIndex("orders", "byUser", userId);
  return entries.sort((a, b) => b.order.created_at.localeCompare(a.order.created_at));
}

export async function qrImage(ticketId: string): Promise<Blob | undefined> {
  return (await db()).get("qr", ticketId);
}

export async function clearWallet() {
  const tx = (await db()).transaction(["orders", "qr"], "readwrite");
  await Promise.all([tx.objectStore("orders").clear(), tx.objectStore("qr").clear(), tx.done]);
}
