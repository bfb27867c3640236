import { afterEach, describe, expect, it } from "vitest";
import { admissionFor, admissionHeaders, forgetAdmission, rememberAdmission } from "./admission";
import { advance, describeWait, keepAdmission, mayBuy, type QueueState } from "./waiting-room";

const NOW = Date.parse("2027-03-01T09:00:00Z");

function waiting(number: number, admittedThrough: number, perMinute: number | null = 60): QueueState {
  return {
    event_id: 7,
    state: "waiting",
    number,
    admitted_through: admittedThrough,
    position: number - admittedThrough,
    admit_per_minute: perMinute,
    estimated_wait_seconds: perMinute ? Math.ceil(((number - admittedThrough) * 60) / perMinute) : null,
  };
}

afterEach(() => sessionStorage.clear());

describe("the place in line", () => {
  it("moves with each queue.advanced message, and the estimate with it", () => {
    const step = advance(waiting(120, 20, 30), 80);
    expect(step.due).toBe(false);
    expect(step.state.position).toBe(40);
    expect(step.state.admitted_through).toBe(80);
    expect(step.state.estimated_wait_seconds).toBe(80);
  });

  it("is due when the line is admitted through the buyer's number", () => {
    expect(advance(waiting(120, 20), 120).due).toBe(true);
    expect(advance(waiting(120, 20), 500).due).toBe(true);
  });

  it("ignores messages that are older than what the page knows, and states that do not wait", () => {
    const state = waiting(120, 50);
    expect(advance(state, 40)).toEqual({ state, due: false });
    const preQueue: QueueState = { event_id: 7, state: "pre_queue" };
    expect(advance(preQueue, 10)).toEqual({ state: preQueue, due: false });
  });

  it("has no estimate when the room admits as seats allow", () => {
    expect(advance(waiting(120, 20, null), 60).state.estimated_wait_seconds).toBeNull();
    expect(describeWait(null)).toBe("");
  });

  it("says the wait in words", () => {
    expect(describeWait(20)).toBe("less than a minute");
    expect(describeWait(60)).toBe("about 1 minute");
    expect(describeWait(600)).toBe("about 10 minutes");
    expect(describeWait(3_900)).toBe("about 1 h 5 min");
  });
});

describe("admissions", () => {
  it("lets a buyer on only when admitted or when the event has no room", () => {
    expect(mayBuy({ event_id: 7, state: "off" })).toBe(true);
    expect(mayBuy({ event_id: 7, state: "admitted" })).toBe(true);
    for (const state of ["not_open", "pre_queue", "not_joined", "waiting", "expired"] as const) {
      expect(mayBuy({ event_id: 7, state })).toBe(false);
    }
  });

  it("keeps the token of an admitted state and sends it with holds on that event only", () => {
    const expiresAt = new Date(Date.now() + 600_000).toISOString();
    expect(keepAdmission({ event_id: 7, state: "admitted", admission_token: "t-7", expires_at: expiresAt })).toBe(true);
    expect(admissionHeaders(7)).toEqual({ "admission-token": "t-7" });
    expect(admissionHeaders(8)).toEqual({});
    expect(keepAdmission(waiting(3, 1))).toBe(false);
  });

  it("drops an admission once it has expired", () => {
    rememberAdmission(7, { token: "t-7", expiresAt: new Date(NOW + 1_000).toISOString() });
    expect(admissionFor(7, NOW)?.token).toBe("t-7");
    expect(admissionFor(7, NOW + 1_000)).toBeNull();
    expect(admissionFor(7, NOW)).toBeNull();
  });

  it("treats an unreadable entry as none", () => {
    sessionStorage.setItem("tb.admission.7", "{not json");
    expect(admissionFor(7)).toBeNull();
    forgetAdmission(7);
  });
});
