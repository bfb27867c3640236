import { describe, expect, it } from "vitest";
import { ApiError } from "../api";
import type { CheckinAnswer } from "./gate-api";
import { memoryStore } from "./test-store";
import { scanCode, type ScannerDeps } from "./scanner";
import { bundle, claims, newKey, ticketCode } from "./test-tickets";

function deps(online: boolean, checkin: ScannerDeps["checkin"]) {
  const store = memoryStore();
  const nonces: string[] = [];
  const scanner: ScannerDeps = {
    checkin: (code, nonce) => {
      nonces.push(nonce);
      return checkin(code, nonce);
    },
    batch: async () => [],
    store,
    online: () => online,
    now: () => new Date("2026-12-01T19:00:00Z"),
  };
  return { scanner, store, nonces };
}

const okAnswer: CheckinAnswer = { status: "ok", message: "Checked in.", ticket_id: "t-1", seat: "Stalls / B / 12" };
const unreachable = () => Promise.reject(new TypeError("Failed to fetch"));

describe("scanCode", () => {
  it("online, shows the server's verdict and records it as uploaded", async () => {
    const key = await newKey();
    const { scanner, store, nonces } = deps(true, async () => okAnswer);
    const verdict = await scanCode(scanner, bundle(key), await ticketCode(key, claims()));
    expect(verdict).toMatchObject({ status: "ok", offline: false });
    const [record] = store.records.values();
    expect(record).toMatchObject({ nonce: nonces[0], status: "ok", pending: false, ticket_id: "t-1" });
  });

  it("offline, decides from the bundle and queues the admission; a second scan is refused", async () => {
    const key = await newKey();
    const { scanner, store, nonces } = deps(false, async () => okAnswer);
    const code = await ticketCode(key, claims());
    expect(await scanCode(scanner, bundle(key), code)).toMatchObject({ status: "ok", offline: true });
    const again = await scanCode(scanner, bundle(key), code);
    expect(again).toMatchObject({ status: "already_redeemed", first_checkin_at: "2026-12-01T19:00:00.000Z" });
    expect(nonces).toEqual([]);
    const pending = await store.pendingScans();
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ code, scanned_at: "2026-12-01T19:00:00.000Z", ticket_id: "t-1" });
  });

  it("falls back to the bundle when the request fails, queueing it with the nonce it was sent with", async () => {
    const key = await newKey();
    const { scanner, store, nonces } = deps(true, unreachable);
    expect(await scanCode(scanner, bundle(key), await ticketCode(key, claims()))).toMatchObject({ offline: true });
    expect((await store.pendingScans())[0].nonce).toBe(nonces[0]);
  });

  it("falls back to the bundle when the server fails on its side", async () => {
    const key = await newKey();
    const { scanner } = deps(true, () => Promise.reject(new ApiError(503, "unavailable", "Try again.")));
    expect(await scanCode(scanner, bundle(key), await ticketCode(key, claims()))).toMatchObject({ status: "ok", offline: true });
  });

  it("passes on a refusal of the gate account itself instead of guessing", async () => {
    const key = await newKey();
    const { scanner, store } = deps(true, () => Promise.reject(new ApiError(403, "forbidden", "Not gate staff.")));
    await expect(scanCode(scanner, bundle(key), await ticketCode(key, claims()))).rejects.toThrow("Not gate staff.");
    expect(store.records.size).toBe(0);
  });

  it("offline refusals are kept here but not queued", async () => {
    const key = await newKey();
    const { scanner, store } = deps(false, async () => okAnswer);
    const verdict = await scanCode(scanner, bundle(key, { void: ["t-1"] }), await ticketCode(key, claims()));
    expect(verdict.status).toBe("void");
    expect(store.records.size).toBe(1);
    expect(await store.pendingScans()).toEqual([]);
  });
});
