// The buyer's journey in headless Chromium against the real stack (spin up and the sidecar):
// register, browse and filter, pick seats, hold, buy, see the tickets arrive live, download
// a QR code; a second browser watches the same seats turn sold without reloading; offline,
// the wallet still opens the ticket. Screenshots of each step go to e2e/screenshots/.
//
//   TICKETBUSTER_URL=http://127.0.0.1:3098 node e2e/run.mjs

import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const base = process.env.TICKETBUSTER_URL ?? "http://127.0.0.1:3000";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
mkdirSync(shots, { recursive: true });

const results = [];
async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    throw e;
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const buyer = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
const watcher = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
const page = await buyer.newPage();
const watching = await watcher.newPage();
const shot = (p, name) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
const unique = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

// Messages the buyer's page received over the WebSocket.
const liveMessages = [];
page.on("websocket", (ws) =>
  ws.on("framereceived", (frame) => {
    try {
      liveMessages.push(JSON.parse(String(frame.payload)));
    } catch {
      // Not JSON: nothing the app sends.
    }
  }),
);

let eventUrl = "";
let heldSeats = [];

try {
  await step("the events page lists events with availability and prices", async () => {
    await page.goto(base);
    await page.locator(".event-grid .card-link").first().waitFor();
    const cards = await page.locator(".event-grid .card-link").count();
    check(cards >= 6, `expected a page of events, saw ${cards}`);
    check((await page.locator(".availability").first().innerText()).match(/seats left|Sold out/), "availability shown");
    await shot(page, "01-events");
  });

  await step("filters by category and searches as the user types", async () => {
    await page.getByRole("button", { name: "Concert", exact: true }).click();
    await page.waitForURL(/category=concert/);
    await page.waitForFunction(() =>
      [...document.querySelectorAll(".event-grid .badge")].every((b) => b.textContent === "concert"),
    );
    const title = await page.locator(".event-grid h2").first().innerText();
    const word = title.split(/\s+/).find((w) => w.length > 4) ?? title;
    await page.getByLabel("Search").pressSequentially(word, { delay: 30 });
    await page.waitForURL(new RegExp(`q=${encodeURIComponent(word)}`));
    await page.waitForFunction(
      (w) => {
        const titles = [...document.querySelectorAll(".event-grid .card")].map((c) => c.textContent.toLowerCase());
        return titles.length > 0 && titles.every((t) => t.includes(w.toLowerCase()));
      },
      word,
    );
    await page.getByLabel("Sort by").selectOption("-price");
    await page.waitForURL(/sort=-price/);
    await shot(page, "02-filtered");
    await page.goto(base);
  });

  await step("a visitor registers and comes back to where they were", async () => {
    await page.getByRole("link", { name: "Sign in" }).click();
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.getByLabel("Name").fill("Ada Buyer");
    await page.getByLabel("Email").fill(`ada-${unique}@example.com`);
    await page.getByLabel("Password").fill("correct horse battery");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("button", { name: /Sign out/ }).waitFor();
    await shot(page, "03-registered");
  });

  await step("the buyer opens an event's seat map", async () => {
    // The event with the most seats left, so the journey never meets a sold-out map.
    const events = await (await fetch(`${base}/api/events?page_size=100`)).json();
    const roomy = events.items.sort((a, b) => b.available_seats - a.available_seats)[0];
    eventUrl = `${base}/events/${roomy.id}`;
    await page.goto(eventUrl);
    await page.locator('.seat[data-status="available"]').first().waitFor();
    check((await page.locator("h1").innerText()) === roomy.title, "the event's title heads the page");
  });

  await step("a second browser, signed in, watches the same seat map", async () => {
    await watching.goto(`${base}/register?next=${encodeURIComponent(new URL(eventUrl).pathname)}`);
    await watching.getByLabel("Name").fill("Bo Watcher");
    await watching.getByLabel("Email").fill(`bo-${unique}@example.com`);
    await watching.getByLabel("Password").fill("correct horse battery");
    await watching.getByRole("button", { name: "Create account" }).click();
    await watching.locator('.seat[data-status="available"]').first().waitFor();
    await watching.getByText("Seats update live.").waitFor();
  });

  await step("the buyer picks two seats with mouse and keyboard and holds them", async () => {
    const first = page.locator('.seat[data-status="available"]').first();
    await first.click();
    await page.keyboard.press("ArrowRight");
    const focused = page.locator(".seat:focus");
    check((await focused.getAttribute("data-status")) === "available", "the next seat is free");
    await page.keyboard.press("Enter");
    const pressed = page.locator('.seat[aria-pressed="true"]');
    check((await pressed.count()) === 2, "two seats selected");
    heldSeats = await pressed.evaluateAll((seats) => seats.map((s) => s.dataset.seat));
    await shot(page, "04-selected");
    await page.getByRole("button", { name: "Hold 2 seats" }).click();
    await page.getByRole("timer").waitFor();
    check(/\d+:\d\d/.test(await page.getByRole("timer").innerText()), "a countdown");
    await shot(page, "05-held");
  });

  await step("the watcher sees the seats turn held without reloading", async () => {
    await watching.waitForFunction(
      (ids) => ids.every((id) => document.querySelector(`[data-seat="${id}"]`)?.dataset.status === "held"),
      heldSeats,
      { timeout: 5_000 },
    );
    await watching.locator(`[data-seat="${heldSeats[0]}"]`).scrollIntoViewIfNeeded();
    await shot(watching, "06-watcher-held");
  });

  await step("buying survives a double click and the tickets arrive live", async () => {
    const orders = [];
    page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/api/orders") && orders.push(r));
    await page.getByRole("button", { name: "Buy now" }).dblclick();
    await page.getByText("Your tickets are ready").waitFor({ timeout: 15_000 });
    check(orders.length === 1, `one order request, saw ${orders.length}`);
    check(
      liveMessages.some((m) => m.type === "order.completed"),
      "order.completed came over the WebSocket",
    );
    await page.locator(".completed .ticket img").nth(1).waitFor();
    check((await page.locator(".completed .ticket").count()) === 2, "two tickets");
    await shot(page, "07-tickets");
  });

  await step("a ticket's QR code downloads as a PNG", async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator(".completed .ticket").first().getByRole("link", { name: "Download QR (PNG)" }).click(),
    ]);
    const path = join(shots, "ticket-qr.png");
    await download.saveAs(path);
    const signature = readFileSync(path).subarray(0, 8).toString("hex");
    check(signature === "89504e470d0a1a0a", `a PNG file, got ${signature}`);
    check(download.suggestedFilename().endsWith(".png"), "named .png");
  });

  await step("the watcher sees the seats turn sold without reloading", async () => {
    await watching.waitForFunction(
      (ids) => ids.every((id) => document.querySelector(`[data-seat="${id}"]`)?.dataset.status === "sold"),
      heldSeats,
      { timeout: 5_000 },
    );
    await shot(watching, "08-watcher-sold");
  });

  await step("an ended session asks to sign in again over the page, which carries on", async () => {
    await page.goto(eventUrl);
    await page.locator('.seat[data-status="available"]').first().click();
    // The stored session goes stale as if it had ended elsewhere: a dead access token and
    // a revoked refresh token, announced the way another tab's change would be.
    await page.evaluate(() => {
      const session = JSON.parse(localStorage.getItem("tb.session"));
      localStorage.setItem(
        "tb.session",
        JSON.stringify({ ...session, accessToken: "ended", accessExpiresAt: Date.now() + 3_600_000, refreshToken: "revoked" }),
      );
      window.dispatchEvent(new StorageEvent("storage", { key: "tb.session" }));
    });
    await page.getByRole("button", { name: "Hold 1 seat" }).click();
    const dialog = page.getByRole("dialog", { name: "Your session has ended" });
    await dialog.waitFor();
    await shot(page, "10-session-ended");
    await dialog.getByLabel("Email").fill(`ada-${unique}@example.com`);
    await dialog.getByLabel("Password").fill("correct horse battery");
    await dialog.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("timer").waitFor();
    check((await dialog.count()) === 0, "the dialog closed");
  });

  await step("leaving the page gives the held seat back", async () => {
    const seat = await page.locator('.seat[aria-label$="held for you"]').getAttribute("data-seat");
    await watching.waitForFunction((id) => document.querySelector(`[data-seat="${id}"]`)?.dataset.status === "held", seat);
    await page.getByRole("link", { name: "My tickets" }).click();
    await watching.waitForFunction(
      (id) => document.querySelector(`[data-seat="${id}"]`)?.dataset.status === "available",
      seat,
      { timeout: 5_000 },
    );
  });

  await step("the app is installable: manifest, icons and a service worker", async () => {
    await page.evaluate(() => navigator.serviceWorker.ready);
    const devtools = await buyer.newCDPSession(page);
    // Playwright's contexts are incognito profiles, where Chromium installs nothing; any
    // other reason would be the app's.
    const { installabilityErrors } = await devtools.send("Page.getInstallabilityErrors");
    const appErrors = installabilityErrors.filter((e) => e.errorId !== "in-incognito");
    check(appErrors.length === 0, `installability errors: ${JSON.stringify(appErrors)}`);
    const { url, errors } = await devtools.send("Page.getAppManifest");
    check(url.endsWith("/manifest.webmanifest") && errors.length === 0, `manifest errors: ${JSON.stringify(errors)}`);
    await devtools.detach();
  });

  await step("offline, the wallet still opens the ticket and buying is paused", async () => {
    await page.goto(`${base}/wallet`);
    await page.locator(".ticket img").first().waitFor();
    await page.evaluate(() => navigator.serviceWorker.ready);
    await buyer.setOffline(true);
    await page.reload();
    await page.getByText("You are offline.").waitFor();
    await page.locator(".ticket img").first().waitFor();
    check((await page.locator(".ticket").count()) >= 2, "the tickets are there");
    await shot(page, "09-offline-wallet");
    await page.goto(eventUrl);
    const hold = page.getByRole("button", { name: /Hold/ });
    await hold.waitFor();
    check((await hold.getAttribute("aria-disabled")) === "true", "holding is disabled offline");
    check((await hold.getAttribute("title")) === "Buying needs a connection: you are offline.", "and says why");
    await shot(page, "11-offline-event");
    await page.goto(base);
    await page.locator(".event-grid .card-link").first().waitFor();
    check((await page.locator(".event-grid .card-link").count()) >= 6, "the cached catalog shows offline");
    await buyer.setOffline(false);
  });
} catch {
  // Reported by its step; the summary below counts it.
} finally {
  await browser.close();
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`browser tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
