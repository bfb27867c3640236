// Who is signed in, and requests made on their behalf. Access tokens last 15 minutes and
// are refreshed quietly; refresh tokens are single use, so one refresh at a time across
// every tab (a Web Lock), and a tab that waited reads the token the other tab stored.
// When the session cannot be refreshed the page stays as it is and asks to sign in again.

import type { Tokens, User } from "./api";

interface Stored {
  user: User;
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
}

const STORAGE_KEY = "tb.session";
/** Refresh this long before the access token lapses, so requests never carry a dying one. */
const REFRESH_MARGIN_MS = 60_000;

type Listener = () => void;
const listeners = new Set<Listener>();
let current: Stored | null = load();
let signInWaiters: ((ok: boolean) => void)[] = [];
let signInNeeded = false;

function load(): Stored | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

function store(next: Stored | null) {
  current = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
  notify();
}

function notify() {
  for (const listener of listeners) listener();
}

// Another tab signed in, refreshed or signed out.
if (typeof window !== "undefined") {
  window.addEventListener("storage", (e) => {
    if (e.key === STORAGE_KEY) {
      current = load();
      notify();
    }
  });
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function currentUser(): User | null {
  return current?.user ?? null;
}

/** True while a request waits for the user to sign in again. */
export function isSignInNeeded(): boolean {
  return signInNeeded;
}

/** Ends the wait of requests that asked for a sign-in; they carry on once this returns. */
function endSignInWait(signedInAgain: boolean) {
  signInNeeded = false;
  const waiters = signInWaiters;
  signInWaiters = [];
  waiters.forEach((resume) => resume(signedInAgain));
}

export function signedIn(tokens: Tokens) {
  endSignInWait(true);
  store({
    user: tokens.user,
    accessToken: tokens.access_token,
    accessExpiresAt: Date.now() + tokens.expires_in * 1000,
    refreshToken: tokens.refresh_token,
  });
}

export async function signOut() {
  const refreshToken = current?.refreshToken;
  endSignInWait(false);
  store(null);
  if (refreshToken) {
    await fetch("/api/auth/logout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    }).catch(() => undefined);
  }
}

/** The user declined to sign in again: requests that waited fail. */
export function abandonSignIn() {
  endSignInWait(false);
  notify();
}

function waitForSignIn(): Promise<boolean> {
  signInNeeded = true;
  notify();
  return new Promise((resume) => signInWaiters.push(resume));
}

async function withRefreshLock<T>(work: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && navigator.locks) {
    return navigator.locks.request("tb.refresh", work);
  }
  return work();
}

let refreshing: Promise<string | null> | null = null;

/** A usable access token, refreshed if it is about to lapse; null when there is no session. */
export async function accessToken(force = false): Promise<string | null> {
  const seen = current;
  if (!seen) return null;
  if (!force && seen.accessExpiresAt - Date.now() > REFRESH_MARGIN_MS) return seen.accessToken;
  refreshing ??= withRefreshLock(async () => {
    const latest = load();
    // Another tab refreshed while this one waited for the lock.
    if (latest && latest.refreshToken !== seen.refreshToken) {
      current = latest;
      return latest.accessToken;
    }
    return refresh(seen.refreshToken);
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function refresh(refreshToken: string): Promise<string | null> {
  let response: Response;
  try {
    response = await fetch("/api/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
  } catch {
    // Offline: keep the session; the access token may still be good enough.
    return current?.accessToken ?? null;
  }
  if (!response.ok) {
    store(null);
    return null;
  }
  const tokens = (await response.json()) as Tokens;
  signedIn(tokens);
  return tokens.access_token;
}

/**
 * `fetch` with the user's access token. A 401 gets one quiet refresh; if the session is
 * gone the user is asked to sign in (the page stays) and the request is sent again.
 */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    let token = await accessToken(attempt === 1);
    if (!token) {
      if (!(await waitForSignIn())) return unauthorized();
      token = await accessToken();
    }
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    const response = await fetch(path, {
      ...init,
      headers,
      signal: init.keepalive ? undefined : AbortSignal.timeout(15_000),
    });
    if (response.status !== 401 || attempt >= 2) return response;
  }
}

function unauthorized(): Response {
  const body = JSON.stringify({ error: { code: "unauthorized", message: "Sign in to continue." } });
  return new Response(body, { status: 401, headers: { "content-type": "application/json" } });
}

/**
 * Brings the signed-in user's role up to date: an operator or an organizer may have
 * changed it since sign-in (made the account an organizer, or gate staff). Tokens carry
 * the role, so a changed one is fetched with a refresh.
 */
export async function syncRole(): Promise<void> {
  if (!current || !navigator.onLine) return;
  const response = await authorizedFetch("/api/auth/me").catch(() => null);
  if (!response?.ok) return;
  const me = (await response.json()) as User;
  if (current && current.user.id === me.id && current.user.role !== me.role) await accessToken(true);
}
