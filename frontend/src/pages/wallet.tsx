import { useEffect, useState } from "preact/hooks";
import { formatDate, formatPrice, messageOf } from "../api";
import { useOnline, useUser } from "../hooks";
import * as live from "../live";
import { TicketCard } from "../components/ticket-card";
import { walletOf, type WalletOrder } from "../wallet-store";
import { syncWallet } from "../wallet-sync";

/** The user's tickets: from IndexedDB at once, then brought up to date when online. */
export function WalletPage() {
  const user = useUser();
  const online = useOnline();
  const [wallet, setWallet] = useState<WalletOrder[] | null>(null);
  const [error, setError] = useState("");
  const [syncing, setSyncing] = useState(false);

  useEffect(() => {
    if (!user) return;
    let current = true;
    const refresh = () => {
      if (!navigator.onLine) return;
      setSyncing(true);
      syncWallet(user.id)
        .then((w) => current && (setWallet(w), setError("")))
        .catch((e: unknown) => current && setError(messageOf(e)))
        .finally(() => current && setSyncing(false));
    };
    walletOf(user.id).then((w) => current && setWallet(w));
    refresh();
    // New tickets or a cancellation arrive while the page is open.
    const stop = live.onMessage((m) => m.type.startsWith("order.") && refresh());
    return () => {
      current = false;
      stop();
    };
  }, [user?.id, online]);

  if (!user) {
    return (
      <section>
        <h1>My tickets</h1>
        <p>
          <a href="/login?next=/wallet">Sign in</a> to see your tickets.
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>My tickets</h1>
      <p class="muted" role="status" aria-live="polite">
        {syncing ? "Updating…" : online ? "" : "Offline: showing the tickets saved on this device."}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {wallet === null && <p>Loading your tickets…</p>}
      {wallet?.length === 0 && (
        <p>
          No tickets yet. <a href="/">Find an event</a>.
        </p>
      )}
      {wallet?.map(({ order, tickets }) => (
        <article class="order" aria-labelledby={`order-${order.order_id}`}>
          <h2 id={`order-${order.order_id}`}>{order.event_title}</h2>
          <p class="muted">
            {order.status === "CANCELLED" ? "Cancelled" : "Paid"} {formatPrice(order.total_cents, order.currency)} ·{" "}
            {order.seat_count} seat{order.seat_count === 1 ? "" : "s"} · ordered {formatDate(order.created_at)}
          </p>
          <ul class="ticket-list">
            {tickets.map((t) => (
              <TicketCard ticket={t} />
            ))}
          </ul>
        </article>
      ))}
    </section>
  );
}
