import { describe, expect, it } from "vitest";
import { bundle, claims, newKey, ticketCode } from "./test-tickets";
import { headline, offlineVerdict, THIS_SCANNER } from "./verdict";

describe("offlineVerdict", () => {
  it("admits a valid ticket of the event, naming its seat", async () => {
    const key = await newKey();
    const verdict = await offlineVerdict(await ticketCode(key, claims()), bundle(key), new Map());
    expect(verdict).toMatchObject({ status: "ok", ticket_id: "t-1", seat: "Stalls / B / 12", offline: true });
  });

  it("calls a code signed by another key invalid", async () => {
    const [ours, theirs] = [await newKey(), await newKey()];
    const verdict = await offlineVerdict(await ticketCode(theirs, claims()), bundle(ours), new Map());
    expect(verdict.status).toBe("invalid");
    expect(verdict.ticket_id).toBeUndefined();
  });

  it("refuses another event's ticket before looking at any list", async () => {
    const key = await newKey();
    const code = await ticketCode(key, claims({ eid: 8 }));
    const verdict = await offlineVerdict(code, bundle(key, { void: ["t-1"] }), new Map());
    expect(verdict.status).toBe("wrong_event");
  });

  it("refuses a void ticket", async () => {
    const key = await newKey();
    const verdict = await offlineVerdict(await ticketCode(key, claims()), bundle(key, { void: ["t-1"] }), new Map());
    expect(verdict.status).toBe("void");
  });

  it("refuses a ticket checked in before the bundle was made", async () => {
    const key = await newKey();
    const verdict = await offlineVerdict(
      await ticketCode(key, claims()),
      bundle(key, { checked_in: ["t-1"] }),
      new Map(),
    );
    expect(verdict.status).toBe("already_redeemed");
  });

  it("refuses a ticket this scanner admitted, saying when", async () => {
    const key = await newKey();
    const admitted = new Map([["t-1", { at: "2026-12-01T19:02:00Z", gate: THIS_SCANNER }]]);
    const verdict = await offlineVerdict(await ticketCode(key, claims()), bundle(key), admitted);
    expect(verdict).toMatchObject({
      status: "already_redeemed",
      first_checkin_at: "2026-12-01T19:02:00Z",
      gate: THIS_SCANNER,
    });
  });
});

describe("headline", () => {
  it("is good news for ok only", () => {
    expect(headline("ok").admit).toBe(true);
    for (const status of ["already_redeemed", "invalid", "void", "wrong_event"] as const) {
      expect(headline(status).admit).toBe(false);
    }
  });
});
