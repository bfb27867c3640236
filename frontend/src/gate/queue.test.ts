import { describe, expect, it } from "vitest";
import type { BatchResult, BatchScan } from "./gate-api";
import { memoryStore } from "./test-store";
import { admittedHere, doubleEntries, uploadPending, type ScanRecord } from "./queue";

function scan(n: number, change: Partial<ScanRecord> = {}): ScanRecord {
  return {
    nonce: `n-${n}`,
    event_id: 7,
    code: `code-${n}`,
    scanned_at: `2026-12-01T19:${String(n).padStart(2, "0")}:00.000Z`,
    ticket_id: `t-${n}`,
    status: "ok",
    pending: true,
    ...change,
  };
}

/** A server that admits everything but the tickets named as already in. */
function server(alreadyIn: string[] = []) {
  const batches: BatchScan[][] = [];
  const send = async (scans: BatchScan[]): Promise<BatchResult[]> => {
    batches.push(scans);
    return scans.map((s) => {
      const ticket = s.code.replace("code", "t");
      const twice = alreadyIn.includes(ticket);
      return {
        nonce: s.nonce,
        ticket_id: ticket,
        status: twice ? "already_redeemed" : "ok",
        double_entry: twice,
        first_checkin_at: twice ? "2026-12-01T18:59:00Z" : undefined,
        gate: twice ? "North gate" : undefined,
        message: twice ? "Already checked in." : "Checked in.",
      };
    });
  };
  return { batches, send };
}

describe("uploadPending", () => {
  it("sends pending scans oldest first, in batches no larger than the limit, with their nonces", async () => {
    const store = memoryStore([scan(5), scan(1), scan(3), scan(2, { pending: false }), scan(4)]);
    const { batches, send } = server();
    const done = await uploadPending(store, send, 3);
    expect(batches.map((b) => b.map((s) => s.nonce))).toEqual([["n-1", "n-3", "n-4"], ["n-5"]]);
    expect(batches[0][0]).toEqual({ code: "code-1", scanned_at: "2026-12-01T19:01:00.000Z", nonce: "n-1" });
    expect(done).toHaveLength(4);
    expect(await store.pendingScans()).toEqual([]);
  });

  it("keeps the server's answer and reports double entries", async () => {
    const store = memoryStore([scan(1), scan(2)]);
    await uploadPending(store, server(["t-2"]).send);
    const doubles = doubleEntries([...store.records.values()]);
    expect(doubles.map((d) => d.ticket_id)).toEqual(["t-2"]);
    expect(doubles[0].uploaded).toMatchObject({ gate: "North gate", first_checkin_at: "2026-12-01T18:59:00Z" });
    expect(store.records.get("n-1")?.uploaded?.double_entry).toBe(false);
  });

  it("matches answers by nonce, whatever order they come in", async () => {
    const store = memoryStore([scan(1), scan(2)]);
    await uploadPending(store, async (scans) => (await server(["t-1"]).send(scans)).reverse());
    expect(store.records.get("n-1")?.uploaded?.double_entry).toBe(true);
    expect(store.records.get("n-2")?.uploaded?.double_entry).toBe(false);
  });

  it("leaves the scans of a failed batch pending, and keeps the batches before it", async () => {
    const store = memoryStore([scan(1), scan(2), scan(3)]);
    const { send } = server();
    let calls = 0;
    const flaky = (scans: BatchScan[]) => (++calls === 2 ? Promise.reject(new TypeError("offline")) : send(scans));
    await expect(uploadPending(store, flaky, 2)).rejects.toThrow("offline");
    expect((await store.pendingScans()).map((s) => s.nonce)).toEqual(["n-3"]);
    await uploadPending(store, send, 2);
    expect(await store.pendingScans()).toEqual([]);
  });

  it("sends nothing when nothing is pending", async () => {
    const { batches, send } = server();
    expect(await uploadPending(memoryStore([scan(1, { pending: false })]), send)).toEqual([]);
    expect(batches).toEqual([]);
  });
});

describe("admittedHere", () => {
  it("holds the event's admissions, first time first, and not refusals or other events", () => {
    const admitted = admittedHere(
      [
        scan(3, { ticket_id: "t-1" }),
        scan(1, { ticket_id: "t-1", pending: false }),
        scan(2, { status: "void" }),
        scan(4, { event_id: 8 }),
      ],
      7,
    );
    expect([...admitted.keys()]).toEqual(["t-1"]);
    expect(admitted.get("t-1")?.at).toBe("2026-12-01T19:01:00.000Z");
  });
});
