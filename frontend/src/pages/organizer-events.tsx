import type { ComponentChildren } from "preact";
import { formatDate } from "../api";
import { useLoad, useUser } from "../hooks";
import { organizerApi } from "../organizer-api";

/** Shows `children` to organizers only; others are told why not. */
export function OrganizerOnly({ children }: { children: ComponentChildren }) {
  const user = useUser();
  if (!user) {
    return (
      <section>
        <h1>My events</h1>
        <p>
          <a href={`/login?next=${encodeURIComponent(location.pathname)}`}>Sign in</a> with your organizer account.
        </p>
      </section>
    );
  }
  if (user.role !== "organizer") {
    return (
      <section>
        <h1>My events</h1>
        <p>This page is for organizers. Ask the operator to make your account an organizer.</p>
      </section>
    );
  }
  return <>{children}</>;
}

/** `/organizer`: the organizer's events, newest first as the API gives them. */
export function OrganizerEventsPage() {
  return (
    <OrganizerOnly>
      <MyEvents />
    </OrganizerOnly>
  );
}

function MyEvents() {
  const [events] = useLoad("organizer-events", organizerApi.list);
  return (
    <section>
      <h1>My events</h1>
      <p>
        <a class="button" href="/organizer/new">
          New event
        </a>
      </p>
      {events.state === "error" && (
        <p class="error" role="alert">
          {events.message}
        </p>
      )}
      {events.state === "loading" && !events.data && <p class="loading">Loading your events…</p>}
      {events.data?.events.length === 0 && <p>No events yet.</p>}
      <ul class="organizer-events">
        {events.data?.events.map((e) => (
          <li>
            <a href={`/organizer/events/${e.id}`}>{e.title}</a> <span class={`status ${e.status}`}>{e.status}</span>
            <span class="muted small">
              {" "}
              {formatDate(e.starts_at)} · {e.venue}, {e.city} · {e.seat_count} seats
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
