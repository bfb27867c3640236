import { useEffect, useRef, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { formatDate, formatPrice, messageOf } from "../api";
import { SalesChart } from "../components/sales-chart";
import { useLiveOpen, useLoad } from "../hooks";
import * as live from "../live";
import { organizerApi, type OrganizerEvent, type Sales } from "../organizer-api";
import { OrganizerOnly } from "./organizer-events";

/** Seat changes come in bursts; the figures are read again at most this often. */
const SALES_THROTTLE_MS = 1_000;
/** How often the figures are read while the WebSocket is down. */
const SALES_POLL_MS = 5_000;

/** `/organizer/events/:id`: publish, watch sales live, attendees, gate staff, cancel. */
export function OrganizerEventPage() {
  const { params } = useRoute();
  const eventId = Number(params.id);
  return (
    <OrganizerOnly>
      {Number.isInteger(eventId) && eventId > 0 ? <Dashboard eventId={eventId} /> : <p>No such event.</p>}
    </OrganizerOnly>
  );
}

function Dashboard({ eventId }: { eventId: number }) {
  const [loaded] = useLoad(`organizer-event-${eventId}`, () => organizerApi.event(eventId));
  const [event, setEvent] = useState<OrganizerEvent | null>(null);
  useEffect(() => {
    if (loaded.data) setEvent(loaded.data);
  }, [loaded.data]);

  if (!event) {
    return loaded.state === "error" ? (
      <p class="error" role="alert">
        {loaded.message}
      </p>
    ) : (
      <p class="loading">Loading the event…</p>
    );
  }
  return (
    <section class="dashboard">
      <p>
        <a href="/organizer">My events</a>
      </p>
      <header class="event-header">
        <span class={`status ${event.status}`} data-testid="event-status">
          {event.status}
        </span>
        <h1>{event.title}</h1>
        <p class="when">
          <time dateTime={event.starts_at}>{formatDate(event.starts_at)}</time> · {event.venue}, {event.city} ·{" "}
          {event.seat_count} seats
        </p>
        <p class="muted small">
          Sales open {formatDate(event.sales_start)}
          {event.sales_end && <>, close {formatDate(event.sales_end)}</>}
          {event.status === "published" && (
            <>
              {" "}
              · <a href={`/events/${event.id}`}>The buyer's page</a>
            </>
          )}
        </p>
      </header>
      {event.status === "draft" && <Publish event={event} onDone={setEvent} />}
      <LiveSales eventId={event.id} />
      <Attendees event={event} />
      <GateStaffPanel eventId={event.id} />
      <Cancel event={event} onDone={setEvent} />
    </section>
  );
}

function Publish({ event, onDone }: { event: OrganizerEvent; onDone: (e: OrganizerEvent) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  return (
    <div class="panel">
      <p>This event is a draft: nobody can see it or buy yet.</p>
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError("");
          try {
            onDone(await organizerApi.publish(event.id));
          } catch (e) {
            setError(messageOf(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? "Publishing…" : "Publish"}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * The sales figures, read again when seats of the event change (over the sidecar's
 * WebSocket, at most once a second) or every few seconds while the socket is down.
 */
function LiveSales({ eventId }: { eventId: number }) {
  const liveOpen = useLiveOpen();
  const [sales, setSales] = useState<Sales | null>(null);
  const [error, setError] = useState("");
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  async function load() {
    try {
      setSales(await organizerApi.sales(eventId));
      setError("");
    } catch (e) {
      setError(messageOf(e));
    }
  }

  useEffect(() => {
    load();
    const stopWatching = live.watchEvent(eventId);
    const stopListening = live.onMessage((message) => {
      if (message.type !== "seat.changed" || message.event_id !== eventId || pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = undefined;
        load();
      }, SALES_THROTTLE_MS);
    });
    return () => {
      stopWatching();
      stopListening();
      clearTimeout(pending.current);
      pending.current = undefined;
    };
  }, [eventId]);

  useEffect(() => {
    if (liveOpen) return;
    const timer = setInterval(() => navigator.onLine && load(), SALES_POLL_MS);
    return () => clearInterval(timer);
  }, [liveOpen, eventId]);

  return (
    <section class="panel" aria-labelledby="sales-title">
      <h2 id="sales-title">Sales</h2>
      <p class="muted small" role="status">
        {liveOpen ? "Live." : `Updated every ${SALES_POLL_MS / 1000} seconds.`}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {sales && (
        <>
          <div class="sales-totals">
            <p>
              <strong data-testid="sold-total">{sales.totals.sold}</strong> sold
            </p>
            <p>
              <strong data-testid="held-total">{sales.totals.held}</strong> held
            </p>
            <p>
              <strong data-testid="available-total">{sales.totals.available}</strong> available
            </p>
            <p>
              <strong data-testid="revenue">{formatPrice(sales.revenue_cents, sales.currency)}</strong> revenue
            </p>
            <p>
              <strong data-testid="orders-last-hour">{sales.orders_last_hour}</strong> orders in the last hour
            </p>
          </div>
          <table class="sales-table">
            <caption class="sr-only">Seats by tier</caption>
            <thead>
              <tr>
                <th scope="col">Tier</th>
                <th scope="col">Price</th>
                <th scope="col">Sold</th>
                <th scope="col">Held</th>
                <th scope="col">Available</th>
              </tr>
            </thead>
            <tbody>
              {sales.tiers.map((t) => (
                <tr data-tier={t.name}>
                  <th scope="row">{t.name}</th>
                  <td>{formatPrice(t.price_cents, sales.currency)}</td>
                  <td data-col="sold">{t.sold}</td>
                  <td data-col="held">{t.held}</td>
                  <td data-col="available">{t.available}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <SalesChart points={sales.orders_per_minute} />
        </>
      )}
    </section>
  );
}

function Attendees({ event }: { event: OrganizerEvent }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function download() {
    setBusy(true);
    setError("");
    try {
      const url = URL.createObjectURL(await organizerApi.attendeesCsv(event.id));
      const link = document.createElement("a");
      link.href = url;
      link.download = `attendees-${event.id}.csv`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="panel" aria-labelledby="attendees-title">
      <h2 id="attendees-title">Attendees</h2>
      <p>One line per valid ticket: name, email, seat, order and check-in time.</p>
      <button type="button" class="secondary" disabled={busy} onClick={download}>
        Download attendees (CSV)
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function GateStaffPanel({ eventId }: { eventId: number }) {
  const [staff, reload] = useLoad(`gate-staff-${eventId}`, () => organizerApi.gateStaff(eventId));
  const [email, setEmail] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function add(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await organizerApi.addGateStaff(eventId, email.trim());
      setEmail("");
      reload();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="panel" aria-labelledby="gate-title">
      <h2 id="gate-title">Gate staff</h2>
      <p>Gate staff scan tickets at the entrance with the Scanner page. They need an account already.</p>
      {staff.state === "error" && (
        <p class="error" role="alert">
          {staff.message}
        </p>
      )}
      <ul class="gate-staff">
        {staff.data?.gate_staff.map((g) => (
          <li>
            {g.name} <span class="muted">({g.email})</span>
          </li>
        ))}
      </ul>
      <form class="inline-form" onSubmit={add}>
        <label>
          Gate staff email
          <input
            type="email"
            required
            value={email}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "gate-error" : undefined}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy || !email.trim()}>
          Add gate staff
        </button>
      </form>
      {error && (
        <p class="error" id="gate-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function Cancel({ event, onDone }: { event: OrganizerEvent; onDone: (e: OrganizerEvent) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [outcome, setOutcome] = useState("");
  async function cancel() {
    setBusy(true);
    setError("");
    try {
      const { event: cancelled, cancelled_orders } = await organizerApi.cancel(event.id);
      dialog.current?.close();
      setOutcome(`Cancelled: ${cancelled_orders} ${cancelled_orders === 1 ? "order was" : "orders were"} refunded.`);
      onDone(cancelled);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="panel danger-zone" aria-labelledby="cancel-title">
      <h2 id="cancel-title">Cancel the event</h2>
      <p role="status">{outcome || (event.status === "cancelled" && "This event is cancelled.")}</p>
      {event.status !== "cancelled" && (
        <button type="button" class="danger" onClick={() => dialog.current?.showModal()}>
          Cancel the event…
        </button>
      )}
      <dialog ref={dialog} class="dialog" aria-labelledby="cancel-dialog-title">
        <h2 id="cancel-dialog-title">Cancel “{event.title}”?</h2>
        <p>
          Every order is cancelled and refunded, every ticket becomes void and buyers are told. This cannot be
          undone.
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="button" class="danger" disabled={busy} onClick={cancel}>
          {busy ? "Cancelling…" : "Yes, cancel the event"}
        </button>
        <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
          Keep the event
        </button>
      </dialog>
    </section>
  );
}
