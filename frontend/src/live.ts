// The sidecar's WebSocket: the user's notifications (resumed after the last id seen, so a
// reconnect misses nothing) and live seat changes of the events being watched. Reconnects
// by itself with a growing pause; watching needs a signed-in user, as the sidecar does.

import { accessToken, currentUser, subscribe as onSession } from "./session";

export interface LiveMessage {
  id?: string;
  type: string;
  [field: string]: unknown;
}

type Listener = (message: LiveMessage) => void;
type StatusListener = () => void;

let socket: WebSocket | null = null;
let open = false;
let retryMs = 500;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let connectedAs: string | null = null;
let websocketUrl: Promise<string> | null = null;
const listeners = new Set<Listener>();
const statusListeners = new Set<StatusListener>();
const watched = new Map<number, number>();

function lastIdKey(userId: string) {
  return `tb.last-notification.${userId}`;
}

/** `websocket_url = "off"`: a deployment without the sidecar; the pages poll instead. */
const NO_WEBSOCKET = "off";

function configuredUrl(): Promise<string> {
  websocketUrl ??= fetch("/app-config.json")
    .then((r) => r.json() as Promise<{ websocket_url?: string }>)
    .then((c) => c.websocket_url || defaultUrl())
    .catch(() => defaultUrl());
  return websocketUrl;
}

/** The sidecar on port 3001 of the page's host, unless the app's configuration says otherwise. */
function defaultUrl(): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.hostname}:3001/ws`;
}

export function isOpen(): boolean {
  return open;
}

export function onMessage(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function onStatus(listener: StatusListener): () => void {
  statusListeners.add(listener);
  return () => statusListeners.delete(listener);
}

function setOpen(value: boolean) {
  open = value;
  statusListeners.forEach((l) => l());
}

/** Seat changes of this event, for as long as the returned function is not called. */
export function watchEvent(eventId: number): () => void {
  watched.set(eventId, (watched.get(eventId) ?? 0) + 1);
  send({ type: "subscribe", event_id: eventId });
  return () => {
    const count = (watched.get(eventId) ?? 1) - 1;
    if (count > 0) {
      watched.set(eventId, count);
    } else {
      watched.delete(eventId);
      send({ type: "unsubscribe", event_id: eventId });
    }
  };
}

function send(command: object) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(command));
}

/** Connects for the signed-in user, or disconnects when nobody is signed in. */
export function start() {
  onSession(sync);
  window.addEventListener("online", () => reconnectSoon(0));
  sync();
}

function sync() {
  const user = currentUser();
  if (user?.id === connectedAs) return;
  disconnect();
  if (user) reconnectSoon(0);
}

function disconnect() {
  connectedAs = null;
  clearTimeout(retryTimer);
  if (socket) {
    socket.onclose = null;
    socket.close(1000);
    socket = null;
  }
  if (open) setOpen(false);
}

function reconnectSoon(delayMs: number) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delayMs);
}

async function connect() {
  const user = currentUser();
  if (!user || socket || !navigator.onLine) return;
  const token = await accessToken();
  if (!token || currentUser()?.id !== user.id || socket) return;
  const configured = await configuredUrl();
  if (configured === NO_WEBSOCKET) return;
  const url = new URL(configured);
  const lastId = localStorage.getItem(lastIdKey(user.id));
  // Without a last id the sidecar starts from now, which is what a first visit wants.
  if (lastId) url.searchParams.set("last_id", lastId);
  // Browsers cannot set headers on a WebSocket; the token rides as a subprotocol.
  const ws = new WebSocket(url, ["bearer", token]);
  socket = ws;
  connectedAs = user.id;
  ws.onopen = () => {
    retryMs = 500;
    setOpen(true);
    for (const eventId of watched.keys()) send({ type: "subscribe", event_id: eventId });
  };
  ws.onmessage = (e) => {
    let message: LiveMessage;
    try {
      message = JSON.parse(String(e.data)) as LiveMessage;
    } catch {
      return;
    }
    if (typeof message.id === "string" && message.type !== "seat.changed") {
      localStorage.setItem(lastIdKey(user.id), message.id);
    }
    listeners.forEach((l) => l(message));
  };
  ws.onclose = () => {
    socket = null;
    setOpen(false);
    if (currentUser()?.id === user.id) {
      reconnectSoon(retryMs);
      retryMs = Math.min(retryMs * 2, 10_000);
    }
  };
}
