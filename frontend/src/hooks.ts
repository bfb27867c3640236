// Small hooks the pages share: the session, being online, and loading data with its
// loading and error states.

import { useEffect, useState } from "preact/hooks";
import { currentUser, isSignInNeeded, subscribe } from "./session";
import { messageOf, type User } from "./api";
import * as live from "./live";

/**
 * A value kept in step with its source. It is read again once subscribed, since the
 * source may change between the first render and the subscription.
 */
function useSubscribed<T>(read: () => T, subscribeTo: (listener: () => void) => () => void): T {
  const [value, setValue] = useState(read);
  useEffect(() => {
    const update = () => setValue(() => read());
    const unsubscribe = subscribeTo(update);
    update();
    return unsubscribe;
  }, []);
  return value;
}

export function useUser(): User | null {
  return useSubscribed(currentUser, subscribe);
}

export function useSignInNeeded(): boolean {
  return useSubscribed(isSignInNeeded, subscribe);
}

/** Whether the sidecar's WebSocket is open (live seat maps and notifications). */
export function useLiveOpen(): boolean {
  return useSubscribed(live.isOpen, live.onStatus);
}

export function useOnline(): boolean {
  return useSubscribed(
    () => navigator.onLine,
    (update) => {
      window.addEventListener("online", update);
      window.addEventListener("offline", update);
      return () => {
        window.removeEventListener("online", update);
        window.removeEventListener("offline", update);
      };
    },
  );
}

export type Loaded<T> =
  | { state: "loading"; data?: T }
  | { state: "ready"; data: T }
  | { state: "error"; message: string; data?: T };

/**
 * Loads data whenever `key` changes and again when the browser comes back online; keeps
 * the last data while reloading so the page does not jump.
 */
export function useLoad<T>(key: string, load: () => Promise<T>): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setLoaded((previous) => ({ state: "loading", data: previous.data }));
    load().then(
      (data) => current && setLoaded({ state: "ready", data }),
      (e: unknown) => current && setLoaded((previous) => ({ state: "error", message: messageOf(e), data: previous.data })),
    );
    return () => {
      current = false;
    };
  }, [key, round]);
  useEffect(() => {
    const again = () => setRound((r) => r + 1);
    window.addEventListener("online", again);
    return () => window.removeEventListener("online", again);
  }, []);
  return [loaded, () => setRound((r) => r + 1)];
}
