import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { ApiError, formatDate, messageOf } from "../api";
import { admissionFor } from "../admission";
import { useLiveOpen, useUser } from "../hooks";
import * as live from "../live";
import { advance, describeWait, keepAdmission, mayBuy, queueApi, type QueueState } from "../waiting-room";

/** How often a waiting page asks anyway while live messages are expected. */
const SAFETY_POLL_SECONDS = 30;
/** How often it asks without a socket, unless the server says otherwise. */
const POLL_SECONDS = 5;

function queuePath(eventId: number) {
  return `/events/${eventId}/queue`;
}

/**
 * Sends a signed-in buyer without an admission to the event's waiting room, when the
 * event has one. For the event page.
 */
export function useAdmissionGate(eventId: number) {
  const user = useUser();
  const { route } = useLocation();
  useEffect(() => {
    if (!user || admissionFor(eventId)) return;
    let current = true;
    queueApi
      .state(eventId)
      .then((state) => {
        if (!current) return;
        if (!keepAdmission(state) && !mayBuy(state)) route(queuePath(eventId), true);
      })
      .catch(() => undefined);
    return () => {
      current = false;
    };
  }, [user?.id, eventId]);
}

export function WaitingRoomPage() {
  const { params } = useRoute();
  const eventId = Number(params.id);
  const user = useUser();
  const { route, url } = useLocation();
  const liveOpen = useLiveOpen();
  const [state, setState] = useState<QueueState | null>(null);
  const [error, setError] = useState("");
  // Asks that failed in a row (the room briefly unreachable): the page keeps asking.
  const [failures, setFailures] = useState(0);
  const latest = useRef(state);
  latest.current = state;

  const ask = useCallback(
    async (join: boolean) => {
      try {
        const next = await (join ? queueApi.join(eventId) : queueApi.state(eventId));
        if (mayBuy(next)) {
          keepAdmission(next);
          route(`/events/${eventId}`, true);
          return;
        }
        setState(next);
        setError("");
        setFailures(0);
      } catch (e) {
        // Too early to join: the room's state says when it opens, and the page asks again then.
        if (join && e instanceof ApiError && e.code === "waiting_room_not_open") return ask(false);
        setError(messageOf(e));
        setFailures((n) => n + 1);
      }
    },
    [eventId],
  );

  useEffect(() => {
    if (!user) {
      route(`/login?next=${encodeURIComponent(url)}`, true);
      return;
    }
    ask(true);
  }, [user?.id, eventId]);

  // One message per room tells every waiting buyer how far the line is admitted.
  useEffect(() => {
    const stopWatching = live.watchEvent(eventId);
    const stopListening = live.onMessage((message) => {
      if (message.type !== "queue.advanced" || message.event_id !== eventId || !latest.current) return;
      const step = advance(latest.current, Number(message.admitted_through));
      setState(step.state);
      if (step.due) ask(false);
    });
    return () => {
      stopListening();
      stopWatching();
    };
  }, [eventId]);

  // Without a socket the page polls; with one it still asks now and then, in case a message
  // was lost. After a failed ask it asks again soon: the place in line is kept meanwhile.
  useEffect(() => {
    if (state?.state === "expired" || (!state && failures === 0)) return;
    const live = liveOpen && state?.state === "waiting" && failures === 0;
    const seconds = live ? SAFETY_POLL_SECONDS : (state?.poll_after_seconds ?? POLL_SECONDS);
    const again = !state || state.state === "not_open" || state.state === "not_joined";
    const timer = setTimeout(() => ask(again), seconds * 1000);
    return () => clearTimeout(timer);
  }, [state, liveOpen, failures]);

  if (!Number.isInteger(eventId) || eventId <= 0) return <p>No such event.</p>;
  return (
    <section class="waiting-room">
      <h1>Waiting room</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div aria-live="polite">{state ? <Place state={state} onJoin={() => ask(true)} liveOpen={liveOpen} /> : <p>Joining the queue…</p>}</div>
      <p class="muted">
        Keep this page open: it moves on to the seat map by itself when it is your turn. <a href={`/events/${eventId}`}>The event</a>
      </p>
    </section>
  );
}

function Place({ state, onJoin, liveOpen }: { state: QueueState; onJoin: () => void; liveOpen: boolean }) {
  switch (state.state) {
    case "not_open":
      return <p>The waiting room opens {state.opens_at ? `at ${formatDate(state.opens_at)}` : "soon"}.</p>;
    case "not_joined":
      return <p>Joining the queue…</p>;
    case "pre_queue":
      return (
        <>
          <p class="queue-position">You are in.</p>
          <p>
            Sales start {state.admits_from ? `at ${formatDate(state.admits_from)}` : "soon"}. Then everyone here gets a place in
            random order: coming earlier gives no advantage, and reloading keeps your draw.
          </p>
        </>
      );
    case "waiting": {
      const wait = describeWait(state.estimated_wait_seconds);
      return (
        <>
          <p class="queue-position">
            Your place in line: <strong>{state.position}</strong>
          </p>
          <p>{wait ? `Estimated wait: ${wait}.` : "You are let in as seats become free."}</p>
          <p class="muted">{liveOpen ? "Updated live." : `Checked every ${state.poll_after_seconds ?? POLL_SECONDS} s.`}</p>
        </>
      );
    }
    case "expired":
      return (
        <>
          <p>Your turn to buy ended{state.expired_at ? ` at ${formatDate(state.expired_at)}` : ""}.</p>
          <button type="button" onClick={onJoin}>
            Join the queue again
          </button>
        </>
      );
    default:
      return null;
  }
}
