import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { api, formatDate, formatPrice, type BestAvailableRequest, type EventDetail, type SeatLayout, type SeatMap, type Ticket } from "../api";
import { Checkout, type CheckoutState, type OrderNotification } from "../checkout";
import { useLiveOpen, useLoad, useOnline, useUser } from "../hooks";
import * as live from "../live";
import { applySeatChange, describeSeats, indexSeats, reconcile, tierSlots, toggleSeat, totalCents } from "../seat-selection";
import { ChangeSequence, seatMapOf, type NumberedChange } from "../seat-status";
import { SeatMapView } from "../components/seat-map";
import { BestAvailable } from "../components/best-available";
import { TicketCard } from "../components/ticket-card";
import { syncWallet } from "../wallet-sync";
import { useAdmissionGate } from "./waiting-room";

/** How often the seat map is read again while no live updates arrive. */
const SEAT_MAP_POLL_MS = 5_000;
/** How soon the status is read again when a live change went missing: the server keeps it this long. */
const MISSED_CHANGE_REFETCH_MS = 1_000;
/** How often an order's status is read while the WebSocket is down. */
const ORDER_POLL_MS = 2_000;
const OFFLINE_HINT = "Buying needs a connection: you are offline.";

export function EventPage() {
  const { params } = useRoute();
  const eventId = Number(params.id);
  const [event] = useLoad(`event-${eventId}`, () => api.event(eventId));
  if (!Number.isInteger(eventId) || eventId <= 0) return <p>No such event.</p>;
  return (
    <section>
      {event.state === "error" && !event.data && (
        <p class="error" role="alert">
          {event.message}
        </p>
      )}
      {event.data ? <EventHeader event={event.data} /> : event.state === "loading" && <div class="header-skeleton" aria-hidden="true" />}
      {event.data && <Booking event={event.data} />}
    </section>
  );
}

function EventHeader({ event }: { event: EventDetail }) {
  return (
    <header class="event-header">
      <span class={`badge ${event.category}`}>{event.category}</span>
      <h1>{event.title}</h1>
      <p class="when">
        <time dateTime={event.starts_at}>{formatDate(event.starts_at)}</time> · {event.venue}, {event.city}
      </p>
      <p>{event.description}</p>
      <ul class="tiers" aria-label="Prices">
        {event.price_tiers.map((t) => (
          <li>
            {t.name}: {formatPrice(t.price_cents, event.currency)}
          </li>
        ))}
      </ul>
    </header>
  );
}

function Booking({ event }: { event: EventDetail }) {
  useAdmissionGate(event.id);
  const user = useUser();
  const online = useOnline();
  const { route, url } = useLocation();
  const [map, setMap] = useState<SeatMap | null>(null);
  const [mapError, setMapError] = useState("");
  const [selected, setSelected] = useState<number[]>([]);
  const [notice, setNotice] = useState("");
  const liveOpen = useLiveOpen();
  const checkout = useMemo(() => new Checkout(api), [event.id]);
  const [state, setState] = useState<CheckoutState>(checkout.state);
  const index = useMemo(() => (map ? indexSeats(map) : new Map()), [map]);
  // The seats of the user's own hold, counted as theirs from the moment it is asked for:
  // the seat change can arrive over the socket before the hold's answer does.
  const mine = state.kind === "holding" ? state.seatIds : "hold" in state ? state.hold.seat_ids : [];
  const mineRef = useRef(mine);
  mineRef.current = mine;
  const latest = useRef({ map, selected });
  latest.current = { map, selected };
  const indexRef = useRef(index);
  indexRef.current = index;

  // The map is the layout (kept while its version holds) with the latest status and the
  // live changes numbered after it; a missing number has the status read again.
  const layout = useRef<SeatLayout | null>(null);
  const statusEtag = useRef<string | undefined>(undefined);
  const sequence = useMemo(() => new ChangeSequence(), [event.id]);
  const refetch = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  function refetchSoon() {
    clearTimeout(refetch.current);
    refetch.current = setTimeout(loadMap, MISSED_CHANGE_REFETCH_MS);
  }

  async function loadMap() {
    try {
      const answer = await api.seatStatus(event.id, statusEtag.current);
      if (!answer) {
        if (sequence.gap()) refetchSoon();
        return;
      }
      const { status, etag } = answer;
      if (layout.current?.version !== status.layout_version) {
        layout.current = await api.seatLayout(event.id, status.layout_version);
      }
      const plan = sequence.document(status.revision);
      if (plan.gap) refetchSoon();
      if (!plan.use) return;
      statusEtag.current = etag;
      let fresh = seatMapOf(layout.current, status);
      for (const change of plan.replay) fresh = applySeatChange(fresh, [], change).map;
      setMap(fresh);
      setMapError("");
      setSelected((current) => {
        const { selected: kept, lost } = reconcile(fresh, current);
        if (lost.length) setNotice(`Someone else took ${describeSeats(indexSeats(fresh), lost)}.`);
        return kept;
      });
    } catch {
      setMapError("The seat map could not be loaded.");
    }
  }

  useEffect(() => checkout.onChange(setState), [checkout]);

  useEffect(() => {
    loadMap();
    const stopWatching = live.watchEvent(event.id);
    const stopListening = live.onMessage((message) => {
      if (message.type === "seat.changed") {
        const change = message as unknown as NumberedChange;
        if (change.event_id !== event.id) return;
        const step = sequence.change(change);
        if (step.gap) refetchSoon();
        const { map: current, selected: chosen } = latest.current;
        if (!current || !step.apply) return;
        const outcome = applySeatChange(current, chosen, change, mineRef.current);
        setMap(outcome.map);
        setSelected(outcome.selected);
        if (outcome.lost.length) setNotice(`Someone else just took ${describeSeats(indexSeats(current), outcome.lost)}.`);
      } else if (message.type === "hold.expiring" && message.hold_id === checkout.heldHold()?.hold_id) {
        setNotice("Your hold ends in about a minute: buy now to keep these seats.");
      } else {
        checkout.notified(message as OrderNotification);
      }
    });
    return () => {
      stopWatching();
      stopListening();
      clearTimeout(refetch.current);
    };
  }, [event.id]);

  // Without live updates (signed out, or the socket is down) the map is read again now and
  // then; when they come back, at once, for what was missed meanwhile.
  useEffect(() => {
    if (liveOpen) {
      if (latest.current.map) loadMap();
      return;
    }
    const timer = setInterval(() => navigator.onLine && loadMap(), SEAT_MAP_POLL_MS);
    return () => clearInterval(timer);
  }, [liveOpen, event.id]);

  // The countdown, and the result by polling while the socket is down.
  const [, setNow] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => {
      checkout.tick();
      setNow(Date.now());
    }, 1000);
    return () => clearInterval(timer);
  }, [checkout]);
  useEffect(() => {
    if (state.kind !== "processing") return;
    checkout.poll();
    if (liveOpen) return;
    const timer = setInterval(() => checkout.poll(), ORDER_POLL_MS);
    return () => clearInterval(timer);
  }, [state.kind, liveOpen]);

  // Seats go back when the buyer leaves before ordering.
  useEffect(() => {
    const leave = () => {
      const hold = checkout.heldHold();
      if (hold && checkout.state.kind === "held") api.release(hold.hold_id, true).catch(() => undefined);
    };
    window.addEventListener("pagehide", leave);
    return () => {
      window.removeEventListener("pagehide", leave);
      if (checkout.state.kind === "held") checkout.release();
    };
  }, [checkout]);

  useEffect(() => {
    if (state.kind === "refused") {
      if (state.unavailableSeatIds.length) {
        setSelected((sel) => sel.filter((id) => !state.unavailableSeatIds.includes(id)));
      }
      loadMap();
    } else if (state.kind === "expired" || state.kind === "failed") {
      loadMap();
    } else if (state.kind === "held") {
      setSelected([]);
    }
  }, [state]);

  // Stable, so a click re-renders only the seats whose look changed.
  const toggle = useCallback(
    (seatId: number) => {
      const located = indexRef.current.get(seatId);
      if (!located || checkout.heldHold() || checkout.state.kind === "processing") return;
      const { selected: next, refusal } = toggleSeat(latest.current.selected, located.seat);
      setSelected(next);
      setNotice(refusal ?? "");
    },
    [checkout],
  );

  /** Whether a hold may be asked for: a visitor signs in first. */
  function signedIn(): boolean {
    if (!user) route(`/login?next=${encodeURIComponent(url)}`);
    setNotice("");
    return !!user;
  }

  async function hold() {
    if (signedIn()) await checkout.hold(event.id, selected);
  }

  async function holdBest(request: BestAvailableRequest) {
    if (!signedIn()) return;
    setSelected([]);
    await checkout.holdBestAvailable(event.id, request);
  }

  return (
    <div class="booking">
      <div class="map-panel">
        <h2>Choose your seats</h2>
        <Legend />
        {mapError && (
          <p class="error" role="alert">
            {mapError}
          </p>
        )}
        {map ? (
          <SectionedSeatMap map={map} index={index} selected={selected} mine={mine} onToggle={toggle} />
        ) : (
          !mapError && <div class="map-skeleton" aria-hidden="true" />
        )}
        <p class="muted small">
          {liveOpen ? "Seats update live." : user ? "Reconnecting for live updates…" : "Sign in to see seats change live."}
        </p>
      </div>
      <aside class="checkout-panel" aria-labelledby="checkout-title">
        <h2 id="checkout-title">Your selection</h2>
        <p class="notice" role="status" aria-live="polite">
          {notice}
        </p>
        <CheckoutPanel
          state={state}
          checkout={checkout}
          event={event}
          selectedText={selected.length ? describeSeats(index, selected) : ""}
          selectedCount={selected.length}
          selectedTotal={totalCents(index, selected)}
          seatNames={(ids) => describeSeats(index, ids)}
          online={online}
          onHold={hold}
        />
        {(state.kind === "choosing" || state.kind === "holding" || state.kind === "refused") && (
          <BestAvailable
            tiers={event.price_tiers.map((t) => t.name)}
            sections={map?.sections.map((s) => s.name) ?? []}
            busy={state.kind === "holding"}
            offlineHint={online ? undefined : OFFLINE_HINT}
            onHold={holdBest}
          />
        )}
      </aside>
    </div>
  );
}

/** Above this many seats the map is shown a section at a time, so the page stays quick. */
const SECTION_AT_A_TIME = 1_500;

function SectionedSeatMap(props: Parameters<typeof SeatMapView>[0]) {
  const { map } = props;
  const seats = (s: SeatMap["sections"][number]) => s.rows.reduce((n, r) => n + r.seats.length, 0);
  const total = map.sections.reduce((n, s) => n + seats(s), 0);
  const [chosen, setChosen] = useState(map.sections[0]?.name ?? "");
  if (total <= SECTION_AT_A_TIME) return <SeatMapView {...props} />;
  const section = map.sections.find((s) => s.name === chosen) ?? map.sections[0];
  return (
    <>
      <label class="section-picker">
        Section
        <select value={section.name} onChange={(e) => setChosen(e.currentTarget.value)}>
          {map.sections.map((s) => (
            <option value={s.name}>
              {s.name}: {s.rows.reduce((n, r) => n + r.seats.filter((seat) => seat.status === "available").length, 0)}{" "}
              seats free
            </option>
          ))}
        </select>
      </label>
      <SeatMapView {...props} map={{ ...map, sections: [section] }} tiers={tierSlots(map)} />
    </>
  );
}

function Legend() {
  return (
    <ul class="legend" aria-label="Legend">
      <li>
        <span class="seat tier-0" aria-hidden="true" /> Available (colour by price)
      </li>
      <li>
        <span class="seat selected" aria-hidden="true" /> Selected
      </li>
      <li>
        <span class="seat mine" aria-hidden="true" /> Held for you
      </li>
      <li>
        <span class="seat held" aria-hidden="true" /> Held by someone
      </li>
      <li>
        <span class="seat sold" aria-hidden="true" /> Sold
      </li>
    </ul>
  );
}

interface PanelProps {
  state: CheckoutState;
  checkout: Checkout;
  event: EventDetail;
  selectedText: string;
  selectedCount: number;
  selectedTotal: number;
  seatNames: (ids: number[]) => string;
  online: boolean;
  onHold: () => void;
}

function CheckoutPanel(props: PanelProps) {
  const { state, checkout, event, online } = props;
  const offlineHint = online ? undefined : OFFLINE_HINT;
  switch (state.kind) {
    case "choosing":
    case "holding":
    case "refused":
      return (
        <div>
          {state.kind === "refused" && (
            <p class="error" role="alert">
              {state.unavailableSeatIds.length
                ? `Those seats were just taken: ${props.seatNames(state.unavailableSeatIds)}. Pick others.`
                : state.message}
            </p>
          )}
          {props.selectedCount === 0 ? (
            <p>Pick up to 8 seats on the map (click, or use the arrow keys and Enter).</p>
          ) : (
            <p>
              {props.selectedText}
              <br />
              <strong>{formatPrice(props.selectedTotal, event.currency)}</strong>
            </p>
          )}
          <ActionButton
            label={state.kind === "holding" ? "Holding…" : holdLabel(props.selectedCount)}
            disabled={props.selectedCount === 0 || state.kind === "holding"}
            offlineHint={offlineHint}
            onClick={props.onHold}
          />
        </div>
      );
    case "held":
    case "ordering":
    case "order-failed-to-send": {
      const left = checkout.secondsLeft();
      return (
        <div>
          <p>
            Held for you: {props.seatNames(state.hold.seat_ids)}
          </p>
          <p class="countdown" role="timer" aria-live="off">
            <span class="sr-only">Time left: </span>
            {Math.floor(left / 60)}:{String(left % 60).padStart(2, "0")}
          </p>
          {state.kind === "order-failed-to-send" && (
            <p class="error" role="alert">
              {state.message} Your seats are still held; buying again is safe.
            </p>
          )}
          <ActionButton
            label={state.kind === "ordering" ? "Placing your order…" : "Buy now"}
            disabled={state.kind === "ordering"}
            offlineHint={offlineHint}
            onClick={() => checkout.buy()}
          />
          <button type="button" class="secondary" disabled={state.kind === "ordering"} onClick={() => checkout.release()}>
            Release seats
          </button>
        </div>
      );
    }
    case "processing":
      return (
        <p class="processing" role="status">
          <span class="spinner" aria-hidden="true" /> Processing your order…
        </p>
      );
    case "completed":
      return <Completed orderId={state.orderId} />;
    case "failed":
      return (
        <div role="alert">
          <p class="error">The order did not go through: {state.reason}</p>
          <button type="button" onClick={() => checkout.reset()}>
            Choose seats again
          </button>
        </div>
      );
    case "expired":
      return (
        <div role="alert">
          <p class="error">Your hold ran out and the seats went back on sale.</p>
          <button type="button" onClick={() => checkout.reset()}>
            Choose seats again
          </button>
        </div>
      );
  }
}

function holdLabel(count: number): string {
  return count === 0 ? "Hold seats" : count === 1 ? "Hold 1 seat" : `Hold ${count} seats`;
}

/** A primary action that explains itself when it cannot run offline. */
function ActionButton(props: { label: string; disabled: boolean; offlineHint?: string; onClick: () => void }) {
  const blocked = props.disabled || !!props.offlineHint;
  return (
    <>
      <button
        type="button"
        aria-disabled={blocked}
        title={props.offlineHint}
        aria-describedby={props.offlineHint ? "offline-hint" : undefined}
        onClick={() => !blocked && props.onClick()}
      >
        {props.label}
      </button>
      {props.offlineHint && (
        <p id="offline-hint" class="hint">
          {props.offlineHint}
        </p>
      )}
    </>
  );
}

function Completed({ orderId }: { orderId: string }) {
  const user = useUser();
  const [tickets, setTickets] = useState<Ticket[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!user) return;
    syncWallet(user.id)
      .then((wallet) => setTickets(wallet.find((w) => w.order.order_id === orderId)?.tickets ?? []))
      .catch(() => setError("Your tickets are issued; open My tickets to see them."));
  }, [orderId]);
  return (
    <div class="completed" role="status">
      <h3>Your tickets are ready</h3>
      {error && <p>{error}</p>}
      {tickets === null && !error && <p>Fetching your tickets…</p>}
      <ul class="ticket-list">
        {tickets?.map((t) => (
          <TicketCard ticket={t} />
        ))}
      </ul>
      <p>
        <a href="/wallet">All my tickets</a>
      </p>
    </div>
  );
}
