import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import {
  api,
  CATEGORIES,
  formatDate,
  formatPrice,
  messageOf,
  type Category,
  type EventQuery,
  type EventSummary,
  type SortOrder,
} from "../api";

const PAGE_SIZE = 12;
const SEARCH_PAUSE_MS = 250;
const SORTS: { value: SortOrder; label: string }[] = [
  { value: "date", label: "Date, soonest first" },
  { value: "-date", label: "Date, latest first" },
  { value: "price", label: "Price, lowest first" },
  { value: "-price", label: "Price, highest first" },
];

/** The filters live in the address, so a reload or a shared link shows the same list. */
function filtersFrom(query: Record<string, string>): EventQuery {
  return {
    category: CATEGORIES.includes(query.category as Category) ? (query.category as Category) : undefined,
    q: query.q || undefined,
    from: query.from || undefined,
    to: query.to || undefined,
    sort: SORTS.some((s) => s.value === query.sort) ? (query.sort as SortOrder) : undefined,
  };
}

export function EventsPage() {
  const { query, route } = useLocation();
  const filters = filtersFrom(query);
  const [search, setSearch] = useState(filters.q ?? "");
  const [events, setEvents] = useState<EventSummary[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [page, setPage] = useState(1);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState("");
  const [round, setRound] = useState(0);
  const filterKey = JSON.stringify(filters);

  function update(change: Partial<EventQuery>) {
    const next = { ...filters, ...change };
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v) params.set(k, String(v));
    const qs = params.toString();
    route(qs ? `/?${qs}` : "/", true);
  }

  // Search as you type, once the typing pauses.
  useEffect(() => {
    if ((filters.q ?? "") === search.trim()) return;
    const timer = setTimeout(() => update({ q: search.trim() || undefined }), SEARCH_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [search]);

  useEffect(() => {
    setPage(1);
  }, [filterKey]);

  useEffect(() => {
    let current = true;
    setLoading(true);
    setError("");
    api.events({ ...filters, page, page_size: PAGE_SIZE }).then(
      (result) => {
        if (!current) return;
        setEvents((previous) => (page === 1 ? result.items : [...previous, ...result.items]));
        setTotal(result.total);
        setLoading(false);
      },
      (e: unknown) => {
        if (!current) return;
        setError(messageOf(e));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [filterKey, page, round]);

  useEffect(() => {
    const again = () => {
      setPage(1);
      setRound((r) => r + 1);
    };
    window.addEventListener("online", again);
    return () => window.removeEventListener("online", again);
  }, []);

  const more = total !== null && events.length < total;
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const target = sentinel.current;
    if (!target || !more || loading) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setPage((p) => p + 1);
    });
    observer.observe(target);
    return () => observer.disconnect();
  }, [more, loading]);

  return (
    <section>
      <h1>Find your next event</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label class="grow">
          Search
          <input
            type="search"
            placeholder="Artist, venue, city…"
            value={search}
            maxLength={100}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
        </label>
        <label>
          From
          <input type="date" value={filters.from ?? ""} onChange={(e) => update({ from: e.currentTarget.value || undefined })} />
        </label>
        <label>
          To
          <input type="date" value={filters.to ?? ""} onChange={(e) => update({ to: e.currentTarget.value || undefined })} />
        </label>
        <label>
          Sort by
          <select value={filters.sort ?? "date"} onChange={(e) => update({ sort: e.currentTarget.value as SortOrder })}>
            {SORTS.map((s) => (
              <option value={s.value}>{s.label}</option>
            ))}
          </select>
        </label>
      </form>
      <div class="chips" role="group" aria-label="Category">
        <button type="button" aria-pressed={!filters.category} onClick={() => update({ category: undefined })}>
          All
        </button>
        {CATEGORIES.map((c) => (
          <button type="button" aria-pressed={filters.category === c} onClick={() => update({ category: c })}>
            {c[0].toUpperCase() + c.slice(1)}
          </button>
        ))}
      </div>
      <p class="muted" role="status" aria-live="polite">
        {total === null ? "Loading events…" : total === 1 ? "1 event" : `${total} events`}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}{" "}
          <button type="button" class="link" onClick={() => setRound((r) => r + 1)}>
            Try again
          </button>
        </p>
      )}
      <ul class="event-grid">
        {events.map((event) => (
          <EventCard event={event} />
        ))}
        {loading && Array.from({ length: page === 1 && events.length === 0 ? 6 : 3 }, () => <li class="card skeleton" aria-hidden="true" />)}
      </ul>
      {total === 0 && !loading && <p>No events match. Try another search or category.</p>}
      {more && (
        <div ref={sentinel} class="more">
          <button type="button" class="secondary" disabled={loading} onClick={() => setPage((p) => p + 1)}>
            {loading ? "Loading…" : "Show more events"}
          </button>
        </div>
      )}
    </section>
  );
}

function EventCard({ event }: { event: EventSummary }) {
  const soldOut = event.available_seats === 0;
  const price =
    event.min_price_cents === null
      ? "—"
      : event.min_price_cents === event.max_price_cents || event.max_price_cents === null
        ? formatPrice(event.min_price_cents, event.currency)
        : `${formatPrice(event.min_price_cents, event.currency)} – ${formatPrice(event.max_price_cents, event.currency)}`;
  return (
    <li class="card">
      <a href={`/events/${event.id}`} class="card-link">
        <span class={`badge ${event.category}`}>{event.category}</span>
        <h2>{event.title}</h2>
        <p class="when">
          <time dateTime={event.starts_at}>{formatDate(event.starts_at)}</time>
        </p>
        <p class="where">
          {event.venue}, {event.city}
        </p>
        <p class="price">{price}</p>
        <p class={soldOut ? "availability sold-out" : "availability"}>
          {soldOut ? "Sold out" : `${event.available_seats.toLocaleString()} seats left`}
        </p>
      </a>
    </li>
  );
}
