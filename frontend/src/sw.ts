/// <reference lib="webworker" />
// The service worker: the app shell from the cache (so the app opens offline), the
// catalog stale-while-revalidate, seat maps fresh when online and cached for offline
// reading. Personal data (orders, tickets) is not cached here: the app keeps the
// wallet in IndexedDB.

const sw = self as unknown as ServiceWorkerGlobalScope;

/** Filled in at build time with the built files, and a version that changes with them. */
const APP_SHELL: string[] = "__APP_SHELL__" as unknown as string[];
const SHELL_CACHE = "shell-__SHELL_VERSION__";
const CATALOG_CACHE = "catalog-v1";
const CATALOG_ENTRIES = 200;

sw.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(APP_SHELL))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((n) => n.startsWith("shell-") && n !== SHELL_CACHE).map((n) => caches.delete(n)),
        ),
      )
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== sw.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, SHELL_CACHE, "/"));
  } else if (/^\/api\/events\/\d+\/(seats|seat-status|layout)$/.test(url.pathname)) {
    event.respondWith(networkFirst(request, CATALOG_CACHE));
  } else if (url.pathname === "/api/events" || /^\/api\/events\/\d+$/.test(url.pathname)) {
    event.respondWith(staleWhileRevalidate(event, request));
  } else if (url.pathname === "/app-config.json") {
    event.respondWith(networkFirst(request, SHELL_CACHE));
  } else if (!url.pathname.startsWith("/api/")) {
    event.respondWith(cacheFirst(request));
  }
});

async function cacheFirst(request: Request): Promise<Response> {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) (await caches.open(SHELL_CACHE)).put(request, response.clone());
  return response;
}

async function networkFirst(request: Request, cacheName: string, fallback?: string): Promise<Response> {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(fallback ?? request, response.clone());
    return response;
  } catch (e) {
    const cached = await cache.match(fallback ?? request);
    if (cached) return cached;
    throw e;
  }
}

async function staleWhileRevalidate(event: FetchEvent, request: Request): Promise<Response> {
  const cache = await caches.open(CATALOG_CACHE);
  const cached = await cache.match(request);
  const fresh = fetch(request).then(async (response) => {
    if (response.ok) {
      await cache.put(request, response.clone());
      await trim(cache);
    }
    return response;
  });
  if (cached) {
    event.waitUntil(fresh.catch(() => undefined));
    return cached;
  }
  return fresh;
}

async function trim(cache: Cache) {
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - CATALOG_ENTRIES)).map((k) => cache.delete(k)));
}

export {};
