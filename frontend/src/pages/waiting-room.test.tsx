import { act, cleanup, render, screen, waitFor } from "@testing-library/preact";
import { LocationProvider, Route, Router } from "preact-iso";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import type { LiveMessage } from "../live";
import type { QueueState } from "../waiting-room";

const listeners = new Set<(message: LiveMessage) => void>();
vi.mock("../live", () => ({
  watchEvent: () => () => undefined,
  onMessage: (listener: (message: LiveMessage) => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  isOpen: () => true,
  onStatus: () => () => undefined,
}));
vi.mock("../hooks", () => ({
  useUser: () => ({ id: "u1", email: "ada@example.com", name: "Ada", role: "customer" }),
  useLiveOpen: () => true,
}));
const join = vi.fn<(eventId: number) => Promise<QueueState>>();
const state = vi.fn<(eventId: number) => Promise<QueueState>>();
vi.mock("../waiting-room", async (original) => ({
  ...(await original<typeof import("../waiting-room")>()),
  queueApi: { join: (id: number) => join(id), state: (id: number) => state(id) },
}));

const { WaitingRoomPage } = await import("./waiting-room");

function app() {
  history.replaceState(null, "", "/events/7/queue");
  return render(
    <LocationProvider>
      <Router>
        <Route path="/events/:id/queue" component={WaitingRoomPage} />
        <Route path="/events/:id" component={() => <p>the seat map</p>} />
      </Router>
    </LocationProvider>,
  );
}

afterEach(() => {
  cleanup();
  listeners.clear();
  sessionStorage.clear();
  vi.clearAllMocks();
});

describe("the waiting page", () => {
  it("shows the place in line, moves it live, and goes to the seat map with the admission when admitted", async () => {
    join.mockResolvedValue({ event_id: 7, state: "waiting", number: 5, admitted_through: 2, position: 3, admit_per_minute: 60, estimated_wait_seconds: 3 });
    app();
    expect(await screen.findByText("3")).toBeTruthy();
    expect(screen.getByText(/less than a minute/)).toBeTruthy();

    act(() => listeners.forEach((l) => l({ type: "queue.advanced", event_id: 7, admitted_through: 4 })));
    expect(await screen.findByText("1")).toBeTruthy();
    expect(state).not.toHaveBeenCalled();

    const expiresAt = new Date(Date.now() + 600_000).toISOString();
    state.mockResolvedValue({ event_id: 7, state: "admitted", number: 5, admission_token: "tok", expires_at: expiresAt });
    act(() => listeners.forEach((l) => l({ type: "queue.advanced", event_id: 7, admitted_through: 5 })));
    expect(await screen.findByText("the seat map")).toBeTruthy();
    expect(state).toHaveBeenCalledWith(7);
    expect(JSON.parse(sessionStorage.getItem("tb.admission.7") ?? "{}").token).toBe("tok");
  });

  it("tells early arrivals that the draw makes arriving first no advantage, and ignores other events' messages", async () => {
    join.mockResolvedValue({ event_id: 7, state: "pre_queue", admits_from: "2027-03-01T09:00:00Z", poll_after_seconds: 5 });
    app();
    expect(await screen.findByText(/random order/)).toBeTruthy();
    act(() => listeners.forEach((l) => l({ type: "queue.advanced", event_id: 8, admitted_through: 100 })));
    await waitFor(() => expect(join).toHaveBeenCalledTimes(1));
    expect(screen.queryByText("the seat map")).toBeNull();
  });

  it("before the room opens, says when it does instead of failing", async () => {
    join.mockRejectedValue(new ApiError(409, "waiting_room_not_open", "the waiting room of event 7 opens at …"));
    state.mockResolvedValue({ event_id: 7, state: "not_open", opens_at: "2027-03-01T08:00:00Z", poll_after_seconds: 5 });
    app();
    expect(await screen.findByText(/The waiting room opens at/)).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("keeps asking after the room could not be reached, and shows the place it kept", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      join.mockRejectedValueOnce(new ApiError(503, "unavailable", "the waiting room is briefly unreachable"));
      join.mockResolvedValue({ event_id: 7, state: "waiting", number: 9, admitted_through: 2, position: 7, admit_per_minute: 60, estimated_wait_seconds: 7 });
      app();
      expect(await screen.findByRole("alert")).toBeTruthy();
      await act(async () => {
        await vi.advanceTimersByTimeAsync(5_000);
      });
      expect(await screen.findByText("7")).toBeTruthy();
      expect(screen.queryByRole("alert")).toBeNull();
      expect(join).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("goes straight to the seat map when the event has no waiting room", async () => {
    join.mockResolvedValue({ event_id: 7, state: "off" });
    app();
    expect(await screen.findByText("the seat map")).toBeTruthy();
  });
});
