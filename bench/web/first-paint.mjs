// First visit of the web app's first page in headless Chromium, through `spin up` and,
// as the reference in the same run, through a plain Node static server of the same
// built files (its /api proxied to the same Spin app): first contentful paint, time
// until the event cards show, layout shift, and the JavaScript shipped (gzipped bytes on
// the wire). Each visit is a fresh browser context: empty cache, no service worker.
//
//   node bench/web/first-paint.mjs [--url http://127.0.0.1:3000] [--runs 7]

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, request as forward } from "node:http";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { chromium } = createRequire(join(root, "frontend/package.json"))("playwright-core");

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(" ")
    .split("--")
    .filter(Boolean)
    .map((pair) => pair.trim().split(/\s+/)),
);
const spinUrl = args.url ?? "http://127.0.0.1:3000";
const runs = Number(args.runs ?? 7);
const dist = join(root, "frontend/dist");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".png": "image/png",
};

/** The reference: the same files from disk, gzip when asked, index.html for app routes. */
function referenceServer() {
  const target = new URL(spinUrl);
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path.startsWith("/api/") || path === "/app-config.json") {
      const upstream = forward(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
      return;
    }
    let file = join(dist, normalize(path));
    if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
    const gzip = /gzip/.test(req.headers["accept-encoding"] ?? "") && existsSync(`${file}.gz`);
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    });
    createReadStream(gzip ? `${file}.gz` : file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function visit(browser, url) {
  const context = await browser.newContext({ serviceWorkers: "block", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__shift = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shift += entry.value;
    }).observe({ type: "layout-shift", buffered: true });
  });
  const started = Date.now();
  await page.goto(url);
  await page.locator(".event-grid .card-link").first().waitFor();
  const eventsShownMs = Date.now() - started;
  await page.waitForTimeout(300);
  const figures = await page.evaluate(() => {
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    const scripts = performance
      .getEntriesByType("resource")
      .filter((r) => r.initiatorType === "script" || r.name.endsWith(".js"));
    return {
      fcp: paint ? paint.startTime : NaN,
      jsBytes: scripts.reduce((sum, r) => sum + r.encodedBodySize, 0),
      shift: window.__shift,
    };
  });
  await context.close();
  return { ...figures, eventsShownMs };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const reference = await referenceServer();
const referenceUrl = `http://127.0.0.1:${reference.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const results = { spin: [], reference: [] };
await visit(browser, spinUrl); // warm-up: the first Spin instance, the OS page cache.
for (let run = 1; run <= runs; run++) {
  const spin = await visit(browser, spinUrl);
  const ref = await visit(browser, referenceUrl);
  results.spin.push(spin);
  results.reference.push(ref);
  console.log(
    `run ${run}: spin FCP ${spin.fcp.toFixed(0)} ms, events shown ${spin.eventsShownMs} ms, JS ${(spin.jsBytes / 1024).toFixed(1)} KB gz, CLS ${spin.shift.toFixed(3)}` +
      ` | reference FCP ${ref.fcp.toFixed(0)} ms, events shown ${ref.eventsShownMs} ms`,
  );
}
await browser.close();
reference.close();

const m = (side, key) => median(results[side].map((r) => r[key]));
console.log(`\nmedian of ${runs} first visits (fresh context each):`);
console.log(`  JS shipped for the first page: ${(m("spin", "jsBytes") / 1024).toFixed(1)} KB gzipped (target < 150 KB)`);
console.log(
  `  first contentful paint: spin ${m("spin", "fcp").toFixed(0)} ms, reference ${m("reference", "fcp").toFixed(0)} ms, ratio ${(m("spin", "fcp") / m("reference", "fcp")).toFixed(2)} (target < 1000 ms)`,
);
console.log(
  `  event cards shown: spin ${m("spin", "eventsShownMs")} ms, reference ${m("reference", "eventsShownMs")} ms`,
);
console.log(`  cumulative layout shift: ${m("spin", "shift").toFixed(3)} (good < 0.1)`);
