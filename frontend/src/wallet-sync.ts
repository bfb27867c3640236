// Brings the wallet in IndexedDB up to date with the API: orders with tickets, and the QR
// image of every valid ticket, fetched once.

import { api } from "./api";
import { qrImage, saveOrder, walletOf, type WalletOrder } from "./wallet-store";

/** Orders whose tickets exist (or existed): the ones worth keeping offline. */
const KEPT = new Set(["COMPLETED", "CANCELLED"]);

export async function syncWallet(userId: string): Promise<WalletOrder[]> {
  const { items } = await api.orders();
  const saved = new Map((await walletOf(userId)).map((w) => [w.order.order_id, w]));
  for (const order of items.filter((o) => KEPT.has(o.status))) {
    const known = saved.get(order.order_id);
    if (known && known.order.status === order.status) continue;
    const { items: tickets } = await api.tickets(order.order_id);
    const images = new Map<string, Blob>();
    for (const ticket of tickets.filter((t) => t.status === "valid")) {
      if (!(await qrImage(ticket.ticket_id))) images.set(ticket.ticket_id, await api.qrPng(ticket.ticket_id));
    }
    await saveOrder({ order, tickets, userId, savedAt: Date.now() }, images);
  }
  return walletOf(userId);
}
