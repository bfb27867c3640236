import { useEffect, useRef } from "preact/hooks";
import { LocationProvider, Route, Router } from "preact-iso";
import { useOnline, useSignInNeeded, useUser } from "./hooks";
import { signOut, abandonSignIn, syncRole } from "./session";
import { clearWallet } from "./wallet-store";
import { EventsPage } from "./pages/events";
import { EventPage } from "./pages/event";
import { WaitingRoomPage } from "./pages/waiting-room";
import { WalletPage } from "./pages/wallet";
import { AccountForm, SignInPage } from "./pages/sign-in";
import { OrganizerEventsPage } from "./pages/organizer-events";
import { NewEventPage } from "./pages/organizer-new";
import { OrganizerEventPage } from "./pages/organizer-event";
import { ScannerPage } from "./pages/scanner";

export function App() {
  return (
    <LocationProvider>
      <TopBar />
      <OfflineBanner />
      <main class="page" id="main">
        <Router>
          <Route path="/" component={EventsPage} />
          <Route path="/events/:id" component={EventPage} />
          <Route path="/events/:id/queue" component={WaitingRoomPage} />
          <Route path="/wallet" component={WalletPage} />
          <Route path="/login" component={SignInPage} />
          <Route path="/register" component={SignInPage} />
          <Route path="/organizer" component={OrganizerEventsPage} />
          <Route path="/organizer/new" component={NewEventPage} />
          <Route path="/organizer/events/:id" component={OrganizerEventPage} />
          <Route path="/scanner" component={ScannerPage} />
          <Route default component={NotFound} />
        </Router>
      </main>
      <SessionExpiredDialog />
    </LocationProvider>
  );
}

function TopBar() {
  const user = useUser();
  const online = useOnline();
  // A role granted since sign-in shows without signing in again.
  useEffect(() => {
    syncRole().catch(() => undefined);
  }, [user?.id, online]);
  return (
    <header class="topbar">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <a class="brand" href="/">
        TicketBuster
      </a>
      <nav aria-label="Main">
        <a href="/">Events</a>
        <a href="/wallet">My tickets</a>
        {user?.role === "organizer" && <a href="/organizer">My events</a>}
        {user?.role === "gate" && <a href="/scanner">Scanner</a>}
        {user ? (
          <button
            type="button"
            class="link"
            onClick={async () => {
              await signOut();
              await clearWallet().catch(() => undefined);
            }}
          >
            Sign out <span class="muted">({user.name})</span>
          </button>
        ) : (
          <a href="/login">Sign in</a>
        )}
      </nav>
    </header>
  );
}

function OfflineBanner() {
  const online = useOnline();
  if (online) return null;
  return (
    <div class="offline-banner" role="status">
      You are offline. Events and tickets you have opened before are still here; buying is paused until you are back
      online.
    </div>
  );
}

/**
 * Asks for the password again when the session lapsed, over the page, which keeps its
 * state. A modal <dialog> keeps focus inside it; Escape declines.
 */
function SessionExpiredDialog() {
  const needed = useSignInNeeded();
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (needed && d && !d.open) d.showModal();
    if (!needed && d?.open) d.close();
  }, [needed]);
  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="session-ended-title" onCancel={abandonSignIn}>
      {needed && (
        <>
          <h2 id="session-ended-title">Your session has ended</h2>
          <p>Sign in again to carry on where you were.</p>
          <AccountForm mode="login" />
          <button type="button" class="secondary" onClick={abandonSignIn}>
            Not now
          </button>
        </>
      )}
    </dialog>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        <a href="/">Back to the events</a>
      </p>
    </section>
  );
}
