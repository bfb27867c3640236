// One purchase from held seats to a result. The hold lasts until its expiry. Holding sends
// an idempotency key per request, and buying one per hold, so a double click or a retry
// after a lost answer finds the hold or the order the first attempt made. The result comes from the WebSocket, or from polling the
// order while the socket is down.

import {
  ApiError,
  messageOf,
  type BestAvailableRequest,
  type Hold,
  type Order,
  type OrderAccepted,
  type OrderStatus,
} from "./api";

export interface CheckoutApi {
  hold(eventId: number, seatIds: number[], idempotencyKey: string): Promise<Hold>;
  holdBestAvailable(eventId: number, request: BestAvailableRequest, idempotencyKey: string): Promise<Hold>;
  release(holdId: string): Promise<void>;
  placeOrder(holdId: string, idempotencyKey: string): Promise<OrderAccepted>;
  order(orderId: string): Promise<Order>;
}

export type CheckoutState =
  | { kind: "choosing" }
  | { kind: "holding"; seatIds: number[] }
  | { kind: "refused"; message: string; unavailableSeatIds: number[] }
  | { kind: "held"; hold: Hold }
  | { kind: "ordering"; hold: Hold }
  | { kind: "order-failed-to-send"; hold: Hold; message: string }
  | { kind: "processing"; hold: Hold; orderId: string }
  | { kind: "completed"; orderId: string; ticketIds: string[] }
  | { kind: "failed"; orderId: string; reason: string }
  | { kind: "expired" };

/** What the sidecar says about an order. */
export interface OrderNotification {
  type: string;
  order_id?: string;
  ticket_ids?: string[];
  reason?: string;
}

export class Checkout {
  private current: CheckoutState = { kind: "choosing" };
  private readonly keys = new Map<string, string>();
  /** The last hold request whose answer was lost, and its key, for a retry to send again. */
  private unanswered: { request: string; key: string } | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly listeners = new Set<(state: CheckoutState) => void>();

  constructor(
    private readonly api: CheckoutApi,
    private readonly newKey: () => string = () => crypto.randomUUID(),
    private readonly now: () => number = Date.now,
  ) {}

  get state(): CheckoutState {
    return this.current;
  }

  onChange(listener: (state: CheckoutState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(next: CheckoutState) {
    this.current = next;
    for (const listener of this.listeners) listener(next);
  }

  /** The held seats' remaining time in whole seconds, 0 once lapsed. */
  secondsLeft(): number {
    const hold = this.heldHold();
    if (!hold) return 0;
    return Math.max(0, Math.ceil((Date.parse(hold.expires_at) - this.now()) / 1000));
  }

  /** The hold that still belongs to this checkout (not yet ordered). */
  heldHold(): Hold | null {
    const s = this.current;
    return s.kind === "held" || s.kind === "ordering" || s.kind === "order-failed-to-send" ? s.hold : null;
  }

  async hold(eventId: number, seatIds: number[]): Promise<void> {
    if (seatIds.length === 0) return this.inFlight ?? undefined;
    const request = JSON.stringify({ eventId, seatIds: [...seatIds].sort((a, b) => a - b) });
    return this.take(seatIds, request, (key) => this.api.hold(eventId, seatIds, key));
  }

  /** Holds the seats the server picks; they are known once it answers. */
  async holdBestAvailable(eventId: number, request: BestAvailableRequest): Promise<void> {
    const asked = JSON.stringify({ eventId, ...request });
    return this.take([], asked, (key) => this.api.holdBestAvailable(eventId, request, key));
  }

  private take(seatIds: number[], request: string, ask: (key: string) => Promise<Hold>): Promise<void> {
    if (this.inFlight || this.heldHold()) return this.inFlight ?? Promise.resolve();
    this.set({ kind: "holding", seatIds });
    const key = this.unanswered?.request === request ? this.unanswered.key : this.newKey();
    this.unanswered = { request, key };
    this.inFlight = ask(key)
      .then((hold) => {
        this.unanswered = null;
        this.set({ kind: "held", hold });
      })
      .catch((e: unknown) => {
        // A refusal held nothing; without an answer the hold may exist, and the same key finds it.
        if (e instanceof ApiError && e.status < 500) this.unanswered = null;
        this.set({
          kind: "refused",
          message: messageOf(e),
          unavailableSeatIds: e instanceof ApiError ? e.unavailableSeatIds : [],
        });
      })
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  /**
   * Places the order for the held seats. Calling it again while it runs joins the same
   * attempt; calling it after a failed send retries with the same idempotency key.
   */
  buy(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const hold = this.heldHold();
    if (!hold) return Promise.resolve();
    if (this.secondsLeft() === 0) {
      this.set({ kind: "expired" });
      return Promise.resolve();
    }
    let key = this.keys.get(hold.hold_id);
    if (!key) {
      key = this.newKey();
      this.keys.set(hold.hold_id, key);
    }
    this.set({ kind: "ordering", hold });
    this.inFlight = this.api
      .placeOrder(hold.hold_id, key)
      .then((accepted) => this.settle(hold, accepted.order_id, accepted.status))
      .catch((e: unknown) => this.set({ kind: "order-failed-to-send", hold, message: messageOf(e) }))
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  /** Gives the seats back (leaving the page, or the user said so). */
  async release(): Promise<void> {
    const hold = this.heldHold();
    if (!hold || this.current.kind === "ordering") return;
    this.set({ kind: "choosing" });
    await this.api.release(hold.hold_id).catch(() => undefined);
  }

  /** Back to choosing after a refusal, a failure or an expiry. */
  reset() {
    if (this.current.kind !== "processing" && !this.heldHold()) this.set({ kind: "choosing" });
  }

  /** Notices the hold's end while it is still only held. */
  tick() {
    if (this.current.kind === "held" && this.secondsLeft() === 0) this.set({ kind: "expired" });
  }

  /** A message from the sidecar: the result of the order being processed, if it is this one. */
  notified(message: OrderNotification) {
    const s = this.current;
    if (s.kind !== "processing" || message.order_id !== s.orderId) return;
    if (message.type === "order.completed") {
      this.set({ kind: "completed", orderId: s.orderId, ticketIds: message.ticket_ids ?? [] });
    } else if (message.type === "order.failed" || message.type === "order.cancelled") {
      this.set({ kind: "failed", orderId: s.orderId, reason: message.reason ?? "The order did not go through." });
    }
  }

  /** Asks the API for the order's status: the fallback while the WebSocket is down. */
  async poll(): Promise<void> {
    const s = this.current;
    if (s.kind !== "processing") return;
    try {
      const order = await this.api.order(s.orderId);
      if (this.current === s) this.settle(s.hold, order.order_id, order.status, order.status_reason);
    } catch {
      // Offline or a hiccup: the next poll or the socket will tell.
    }
  }

  private settle(hold: Hold, orderId: string, status: OrderStatus, reason?: string) {
    switch (status) {
      case "PENDING":
      case "PROCESSING":
        if (this.current.kind !== "processing") this.set({ kind: "processing", hold, orderId });
        break;
      case "COMPLETED":
        this.set({ kind: "completed", orderId, ticketIds: [] });
        break;
      default:
        this.set({ kind: "failed", orderId, reason: reason || `The order is ${status.toLowerCase()}.` });
    }
  }
}
