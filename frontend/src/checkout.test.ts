import { describe, expect, it, vi } from "vitest";
import { ApiError, type Hold, type Order, type OrderAccepted } from "./api";
import { Checkout, type CheckoutApi } from "./checkout";

const NOW = Date.parse("2026-11-23T12:00:00Z");

function hold(seconds = 600): Hold {
  return { hold_id: "h1", event_id: 7, seat_ids: [1, 2], expires_at: new Date(NOW + seconds * 1000).toISOString() };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function fakeApi(overrides: Partial<CheckoutApi> = {}) {
  const api = {
    hold: vi.fn(async () => hold()),
    holdBestAvailable: vi.fn(async () => hold()),
    release: vi.fn(async () => undefined),
    placeOrder: vi.fn(async (): Promise<OrderAccepted> => ({ order_id: "o1", status: "PENDING", status_url: "/api/orders/o1" })),
    order: vi.fn(async () => ({ order_id: "o1", status: "PROCESSING", status_reason: "" }) as Order),
    ...overrides,
  };
  return api;
}

function checkoutWith(api: CheckoutApi, now = () => NOW) {
  let keys = 0;
  return new Checkout(api, () => `key-${++keys}`, now);
}

describe("holding seats", () => {
  it("holds the selection and counts down to the hold's end", async () => {
    let now = NOW;
    const api = fakeApi();
    const checkout = checkoutWith(api, () => now);
    await checkout.hold(7, [1, 2]);
    expect(api.hold).toHaveBeenCalledWith(7, [1, 2], "key-1");
    expect(checkout.state.kind).toBe("held");
    expect(checkout.secondsLeft()).toBe(600);
    now += 599_500;
    expect(checkout.secondsLeft()).toBe(1);
    now += 500;
    checkout.tick();
    expect(checkout.state).toEqual({ kind: "expired" });
  });

  it("says which seats were taken when the hold is refused", async () => {
    const refusal = new ApiError(409, "seats_unavailable", "2 seats are not available", { unavailable_seat_ids: [2, 3] });
    const checkout = checkoutWith(fakeApi({ hold: vi.fn(async () => Promise.reject(refusal)) }));
    await checkout.hold(7, [1, 2, 3]);
    expect(checkout.state).toEqual({ kind: "refused", message: "2 seats are not available", unavailableSeatIds: [2, 3] });
  });

  it("holds the seats the server picks for a best-available request", async () => {
    const api = fakeApi();
    const checkout = checkoutWith(api);
    const asked = checkout.holdBestAvailable(7, { quantity: 2, tier: "Pitch" });
    expect(checkout.state).toEqual({ kind: "holding", seatIds: [] });
    await asked;
    expect(api.holdBestAvailable).toHaveBeenCalledWith(7, { quantity: 2, tier: "Pitch" }, "key-1");
    expect(checkout.state).toEqual({ kind: "held", hold: hold() });
    await checkout.holdBestAvailable(7, { quantity: 2 });
    expect(api.holdBestAvailable).toHaveBeenCalledTimes(1);
  });

  it("says what is left when no block of that size is", async () => {
    const refusal = new ApiError(409, "not_enough_adjacent_seats", "no 4 adjacent seats are left in one row", {
      seats_left: 3,
      largest_block: 2,
    });
    const checkout = checkoutWith(fakeApi({ holdBestAvailable: vi.fn(async () => Promise.reject(refusal)) }));
    await checkout.holdBestAvailable(7, { quantity: 4 });
    expect(checkout.state).toEqual({ kind: "refused", message: "no 4 adjacent seats are left in one row", unavailableSeatIds: [] });
  });

  it("sends one hold for a double click", async () => {
    const api = fakeApi();
    const checkout = checkoutWith(api);
    await Promise.all([checkout.hold(7, [1]), checkout.hold(7, [1])]);
    expect(api.hold).toHaveBeenCalledTimes(1);
  });

  it("sends a hold whose answer was lost again with its key, and a new request with a new key", async () => {
    const lost = new DOMException("The operation timed out.", "TimeoutError");
    const refusal = new ApiError(409, "seats_unavailable", "1 seat is not available", { unavailable_seat_ids: [3] });
    const answers: Array<() => Promise<Hold>> = [
      async () => Promise.reject(lost),
      async () => Promise.reject(new ApiError(503, "unavailable", "try again")),
      async () => hold(),
    ];
    const send = vi.fn<CheckoutApi["hold"]>(async () => answers.shift()!());
    const api = fakeApi({ hold: send });
    const checkout = checkoutWith(api);
    await checkout.hold(7, [2, 1]);
    expect(checkout.state.kind).toBe("refused");
    await checkout.hold(7, [1, 2]);
    await checkout.hold(7, [2, 1]);
    expect(checkout.state.kind).toBe("held");
    expect(send.mock.calls.map((call) => call[2])).toEqual(["key-1", "key-1", "key-1"]);

    await checkout.release();
    answers.push(async () => Promise.reject(lost), async () => Promise.reject(refusal), async () => hold());
    await checkout.hold(7, [3]);
    await checkout.hold(7, [1, 3]);
    await checkout.hold(7, [3]);
    expect(send.mock.calls.slice(3).map((call) => call[2])).toEqual(["key-2", "key-3", "key-4"]);
  });

  it("releases the seats when asked", async () => {
    const api = fakeApi();
    const checkout = checkoutWith(api);
    await checkout.hold(7, [1, 2]);
    await checkout.release();
    expect(api.release).toHaveBeenCalledWith("h1");
    expect(checkout.state.kind).toBe("choosing");
  });
});

describe("buying", () => {
  it("places one order for a double click, with one idempotency key", async () => {
    const answer = deferred<OrderAccepted>();
    const api = fakeApi({ placeOrder: vi.fn(() => answer.promise) });
    const checkout = checkoutWith(api);
    await checkout.hold(7, [1, 2]);
    const first = checkout.buy();
    const second = checkout.buy();
    expect(checkout.state.kind).toBe("ordering");
    answer.resolve({ order_id: "o1", status: "PENDING", status_url: "/api/orders/o1" });
    await Promise.all([first, second]);
    expect(api.placeOrder).toHaveBeenCalledTimes(1);
    expect(checkout.state).toMatchObject({ kind: "processing", orderId: "o1" });
  });

  it("retries a lost answer with the same key, so the server finds the first order", async () => {
    const placeOrder = vi
      .fn<CheckoutApi["placeOrder"]>()
      .mockRejectedValueOnce(new TypeError("network down"))
      .mockResolvedValueOnce({ order_id: "o1", status: "PENDING", status_url: "/api/orders/o1" });
    const checkout = checkoutWith(fakeApi({ placeOrder }));
    await checkout.hold(7, [1, 2]);
    await checkout.buy();
    expect(checkout.state.kind).toBe("order-failed-to-send");
    expect(checkout.heldHold()?.hold_id).toBe("h1");
    await checkout.buy();
    // key-1 went with the hold.
    expect(placeOrder.mock.calls).toEqual([
      ["h1", "key-2"],
      ["h1", "key-2"],
    ]);
    expect(checkout.state.kind).toBe("processing");
  });

  it("will not buy a lapsed hold", async () => {
    let now = NOW;
    const api = fakeApi();
    const checkout = checkoutWith(api, () => now);
    await checkout.hold(7, [1]);
    now += 601_000;
    await checkout.buy();
    expect(api.placeOrder).not.toHaveBeenCalled();
    expect(checkout.state.kind).toBe("expired");
  });

  it("switches to the result the WebSocket announces for this order only", async () => {
    const checkout = checkoutWith(fakeApi());
    await checkout.hold(7, [1, 2]);
    await checkout.buy();
    checkout.notified({ type: "order.completed", order_id: "someone-elses", ticket_ids: ["x"] });
    expect(checkout.state.kind).toBe("processing");
    checkout.notified({ type: "order.completed", order_id: "o1", ticket_ids: ["t1", "t2"] });
    expect(checkout.state).toEqual({ kind: "completed", orderId: "o1", ticketIds: ["t1", "t2"] });
  });

  it("reports a failure with its reason", async () => {
    const checkout = checkoutWith(fakeApi());
    await checkout.hold(7, [1, 2]);
    await checkout.buy();
    checkout.notified({ type: "order.failed", order_id: "o1", reason: "payment declined by the provider" });
    expect(checkout.state).toEqual({ kind: "failed", orderId: "o1", reason: "payment declined by the provider" });
  });

  it("falls back to polling the order while the socket is down", async () => {
    const order = vi
      .fn<CheckoutApi["order"]>()
      .mockResolvedValueOnce({ order_id: "o1", status: "PROCESSING", status_reason: "" } as Order)
      .mockResolvedValueOnce({ order_id: "o1", status: "COMPLETED", status_reason: "" } as Order);
    const checkout = checkoutWith(fakeApi({ order }));
    await checkout.hold(7, [1, 2]);
    await checkout.buy();
    await checkout.poll();
    expect(checkout.state.kind).toBe("processing");
    await checkout.poll();
    expect(checkout.state).toMatchObject({ kind: "completed", orderId: "o1" });
  });
});
