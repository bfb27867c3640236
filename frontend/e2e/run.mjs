// The buyer's journey in headless Chromium against the real stack (spin up and the sidecar):
// register, browse and filter, pick seats, hold, buy, see the tickets arrive live, download
// a QR code; a second browser watches the same seats turn sold without reloading; offline,
// the wallet still opens the ticket. Then the organizer's and the gate's: an organizer
// builds an event from a layout, publishes it and names a gate account; the buyer buys two
// seats; the dashboard shows the sale without reloading; the gate's camera (Chromium's fake
// camera playing a ticket's QR code) admits a ticket once and refuses it the second time;
// offline, another ticket is verified from the gate bundle and uploaded once back online.
// Last, an on-sale behind a waiting room: the buyer waits for the draw, is admitted at the
// sales start and buys.
// Screenshots of each step go to e2e/screenshots/.
//
//   TICKETBUSTER_URL=http://127.0.0.1:3098 E2E_ORGANIZER_EMAIL=... E2E_ORGANIZER_PASSWORD=... node e2e/run.mjs
//
// The organizer account must exist with the organizer role (scripts/e2e.sh makes one).

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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

/** Resolves once the page's service worker is active; a worker that never installs (say, a
 * precache entry that 404s) fails the step instead of hanging the journey. */
async function serviceWorkerReady(p, timeout = 15_000) {
  const ready = await p.evaluate(
    (ms) =>
      Promise.race([
        navigator.serviceWorker.ready.then(() => true),
        new Promise((resolve) => setTimeout(() => resolve(false), ms)),
      ]),
    timeout,
  );
  check(ready, `no service worker became active within ${timeout} ms`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const chromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"];
const browser = await chromium.launch({ executablePath, args: chromiumArgs });
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

const organizerEmail = process.env.E2E_ORGANIZER_EMAIL;
const organizerPassword = process.env.E2E_ORGANIZER_PASSWORD;
const gateEmail = `gate-${unique}@example.com`;
const password = "correct horse battery";
const camera = { width: 1280, height: 720 };
const cameraFiles = mkdtempSync(join(tmpdir(), "tb-camera-"));
// Gate browsers, each with its own fake camera; closed at the end.
const gateBrowsers = [];
let organizerPage;
let organizerEventId = 0;
let tickets = [];

/**
 * A browser whose camera films `lumaPlane` (the QR code of a ticket on white, 8-bit grey)
 * without end: Chromium plays a Y4M file as its fake camera.
 */
async function gateBrowser(name, lumaPlane) {
  const file = join(cameraFiles, `${name}.y4m`);
  const { width, height } = camera;
  const frame = Buffer.concat([Buffer.from("FRAME\n"), lumaPlane, Buffer.alloc((width / 2) * (height / 2) * 2, 128)]);
  writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`), frame, frame]));
  const gate = await chromium.launch({
    executablePath,
    args: [
      ...chromiumArgs,
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${file}`,
    ],
  });
  gateBrowsers.push(gate);
  const context = await gate.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, permissions: ["camera"] });
  return { context, page: await context.newPage() };
}

async function signIn(p, next, email, secret = password) {
  await p.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await p.getByLabel("Email").fill(email);
  await p.getByLabel("Password").fill(secret);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("button", { name: /Sign out/ }).waitFor();
}

/** A `datetime-local` value `days` from now at `hour`:00, in this machine's time zone (the browser's). */
function localDay(days, hour) {
  const d = new Date(Date.now() + days * 86_400_000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(hour)}:00`;
}

/** Waits until the element with `testId` reads `text`. */
async function shows(p, testId, text, timeout = 10_000) {
  await p.waitForFunction(
    ([id, expected]) => document.querySelector(`[data-testid="${id}"]`)?.textContent.trim() === expected,
    [testId, text],
    { timeout },
  );
}

/** The verdict screen shows `status`; returns its text. */
async function verdict(p, status) {
  const screen = p.locator(`.verdict[data-status="${status}"]`);
  await screen.waitFor({ timeout: 10_000 });
  return screen.innerText();
}

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
    await serviceWorkerReady(page);
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
    await serviceWorkerReady(page);
    await buyer.setOffline(true);
    await page.reload();
    await page.getByText("You are offline.").waitFor();
    await page.locator(".ticket img").first().waitFor();
    check((await page.locator(".ticket").count()) >= 2, "the tickets are there");
    await shot(page, "09-offline-wallet");
    await page.goto(eventUrl);
    const hold = page.getByRole("button", { name: "Hold seats", exact: true });
    await hold.waitFor();
    check((await hold.getAttribute("aria-disabled")) === "true", "holding is disabled offline");
    check((await hold.getAttribute("title")) === "Buying needs a connection: you are offline.", "and says why");
    await shot(page, "11-offline-event");
    await page.goto(base);
    await page.locator(".event-grid .card-link").first().waitFor();
    check((await page.locator(".event-grid .card-link").count()) >= 6, "the cached catalog shows offline");
    await buyer.setOffline(false);
  });
  await step("an organizer builds an event from a layout, the seat map previewed as it grows", async () => {
    check(organizerEmail && organizerPassword, "E2E_ORGANIZER_EMAIL and E2E_ORGANIZER_PASSWORD name an organizer");
    check((await page.getByRole("link", { name: "My events" }).count()) === 0, "a buyer has no organizer pages");
    const organizer = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    organizerPage = await organizer.newPage();
    const o = organizerPage;
    await signIn(o, "/", organizerEmail, organizerPassword);
    await o.getByRole("link", { name: "My events" }).click();
    await o.getByRole("link", { name: "New event" }).click();
    await o.getByLabel("Title").fill(`Gate Night ${unique}`);
    await o.getByLabel("Description").fill("A small event built in the browser journey.");
    await o.getByLabel("Venue").fill("Journey Hall");
    await o.getByLabel("City").fill("Porto");
    await o.getByLabel("Starts").fill(localDay(7, 20));
    await o.getByLabel("Tier name").first().fill("Front");
    await o.getByLabel("Price").first().fill("60");
    await o.getByRole("button", { name: "Add a tier" }).click();
    await o.getByLabel("Tier name").nth(1).fill("Back");
    const quick = o.getByRole("group", { name: "Add rows to section 1" });
    await quick.getByLabel("Rows").fill("2");
    await quick.getByLabel("Seats per row").fill("6");
    await quick.getByLabel("Tier").selectOption("Front");
    await quick.getByRole("button", { name: "Add rows" }).click();
    await quick.getByLabel("Rows").fill("2");
    await quick.getByLabel("Seats per row").fill("8");
    await quick.getByLabel("Tier").selectOption("Back");
    await quick.getByRole("button", { name: "Add rows" }).click();
    await shows(o, "seat-count", "28 seats");
    check((await o.locator(".preview .seat").count()) === 28, "the preview draws every seat");
    check((await o.locator(".preview .seat-row").count()) === 4, "four rows");
    await shot(o, "12-organizer-layout");
  });

  await step("the API's refusal shows beside the field it names", async () => {
    const o = organizerPage;
    // The Back tier has no price yet.
    await o.getByRole("button", { name: "Create the event" }).click();
    const price = o.locator("#field-tiers-1-price-cents");
    await o.locator("#field-tiers-1-price-cents-error").waitFor();
    check((await price.getAttribute("aria-invalid")) === "true", "the price is marked invalid");
    check(/positive/.test(await o.locator("#field-tiers-1-price-cents-error").innerText()), "and says why");
    await shot(o, "13-organizer-refused");
    await price.fill("25");
    await o.getByRole("button", { name: "Create the event" }).click();
    await o.waitForURL(/\/organizer\/events\/\d+$/);
    organizerEventId = Number(new URL(o.url()).pathname.split("/").pop());
    await shows(o, "event-status", "draft");
  });

  await step("the organizer publishes it and names a gate account", async () => {
    const o = organizerPage;
    const registered = await fetch(`${base}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: gateEmail, password, name: "Gus Gate" }),
    });
    check(registered.status === 201, `the gate account registered: ${registered.status}`);
    await o.getByRole("button", { name: "Publish" }).click();
    await shows(o, "event-status", "published");
    await o.getByLabel("Gate staff email").fill(gateEmail);
    await o.getByRole("button", { name: "Add gate staff" }).click();
    await o.locator(".gate-staff li", { hasText: gateEmail }).waitFor();
    await shows(o, "sold-total", "0");
    await o.getByText("Live.").waitFor();
    // A mark that a reload would wipe.
    await o.evaluate(() => (window.journeyMark = "not reloaded"));
    await shot(o, "14-dashboard-published");
  });

  await step("a buyer buys two seats of it and the dashboard shows the sale without reloading", async () => {
    await page.goto(`${base}/events/${organizerEventId}`);
    const seats = page.locator('.seat[data-status="available"]');
    await seats.first().click();
    await seats.nth(1).click();
    await page.getByRole("button", { name: "Hold 2 seats" }).click();
    await page.getByRole("button", { name: "Buy now" }).click();
    await page.getByText("Your tickets are ready").waitFor({ timeout: 15_000 });
    const o = organizerPage;
    await shows(o, "sold-total", "2");
    check((await o.evaluate(() => window.journeyMark)) === "not reloaded", "the dashboard was not reloaded");
    check(/120/.test(await o.getByTestId("revenue").innerText()), "revenue of two front seats");
    check((await o.getByTestId("orders-last-hour").innerText()) === "1", "one order in the last hour");
    check((await o.locator(".sales-chart canvas").count()) > 0, "the chart is drawn");
    await shot(o, "15-dashboard-sold");
  });

  await step("the attendee list downloads as CSV", async () => {
    const [download] = await Promise.all([
      organizerPage.waitForEvent("download"),
      organizerPage.getByRole("button", { name: "Download attendees (CSV)" }).click(),
    ]);
    const lines = readFileSync(await download.path(), "utf8").trim().split("\n");
    check(lines[0] === "name,email,seat,order,checked_in_at", `the header: ${lines[0]}`);
    check(lines.length === 3 && lines.slice(1).every((l) => l.includes(`ada-${unique}@example.com`)), "two tickets of the buyer");
  });

  await step("the buyer's tickets are read for the gate's camera", async () => {
    // Each QR code on white, as the grey plane of a camera frame.
    tickets = await page.evaluate(
      async ({ eventId, width, height }) => {
        const { accessToken } = JSON.parse(localStorage.getItem("tb.session"));
        const get = (path) => fetch(path, { headers: { authorization: `Bearer ${accessToken}` } });
        const { items } = await (await get("/api/orders")).json();
        const order = items.find((o) => o.event_id === eventId && o.status === "COMPLETED");
        const { items: issued } = await (await get(`/api/orders/${order.order_id}/tickets`)).json();
        const frames = [];
        for (const ticket of issued) {
          const image = await createImageBitmap(await (await get(`/api/tickets/${ticket.ticket_id}/qr.png?px=8`)).blob());
          const canvas = new OffscreenCanvas(width, height);
          const g = canvas.getContext("2d");
          g.fillStyle = "#ffffff";
          g.fillRect(0, 0, width, height);
          g.imageSmoothingEnabled = false;
          const side = Math.min(image.width, height - 40);
          g.drawImage(image, (width - side) / 2, (height - side) / 2, side, side);
          const rgba = g.getImageData(0, 0, width, height).data;
          // Black on white: any colour channel is the grey level.
          let grey = "";
          for (let i = 0; i < width * height; i++) grey += String.fromCharCode(rgba[4 * i + 1]);
          frames.push({ id: ticket.ticket_id, code: ticket.code, grey });
        }
        return frames;
      },
      { eventId: organizerEventId, ...camera },
    );
    check(tickets.length === 2, `two tickets, got ${tickets.length}`);
  });

  await step("the gate's camera admits a ticket once and refuses it the second time", async () => {
    const { page: g } = await gateBrowser("first", Buffer.from(tickets[0].grey, "latin1"));
    await signIn(g, "/", gateEmail);
    await g.getByRole("link", { name: "Scanner" }).click();
    await g.getByRole("link", { name: `Gate Night ${unique}` }).click();
    await g.getByText("Online: the server checks each ticket.").waitFor();
    await g.getByText(/Ticket list from/).waitFor();
    await g.getByRole("button", { name: "Start camera" }).click();
    const admitted = await verdict(g, "ok");
    check(admitted.includes("Admit"), `a green admit: ${admitted}`);
    await shot(g, "16-gate-admit");
    await g.getByRole("button", { name: "Scan next" }).click();
    // The camera still sees the same ticket and reads it again after a pause.
    const refused = await verdict(g, "already_redeemed");
    check(refused.includes("Already used") && /First scanned/.test(refused), `a red refusal with the first scan: ${refused}`);
    await shot(g, "17-gate-refused");
    await g.getByRole("button", { name: "Scan next" }).click();
    await g.getByRole("button", { name: "Stop camera" }).click();
    // The manual field gives the same answer.
    await g.getByLabel("Ticket code").fill(tickets[0].code);
    await g.getByRole("button", { name: "Check" }).click();
    await verdict(g, "already_redeemed");
  });

  await step("offline, the gate verifies another ticket from its bundle and uploads it when back online", async () => {
    const { context, page: g } = await gateBrowser("second", Buffer.from(tickets[1].grey, "latin1"));
    await signIn(g, `/scanner?event=${organizerEventId}`, gateEmail);
    await g.getByText(/Ticket list from/).waitFor();
    await serviceWorkerReady(g);
    await context.setOffline(true);
    await g.reload();
    await g.getByText("Offline: tickets are checked on this device.").waitFor();
    await g.getByText(/Ticket list from/).waitFor();
    await g.getByRole("button", { name: "Start camera" }).click();
    const admitted = await verdict(g, "ok");
    check(/Checked on this device \(offline\)/.test(admitted), `verified offline: ${admitted}`);
    await shot(g, "18-gate-offline-admit");
    await g.getByRole("button", { name: "Scan next" }).click();
    await verdict(g, "already_redeemed");
    await g.getByRole("button", { name: "Scan next" }).click();
    await g.getByRole("button", { name: "Stop camera" }).click();
    check((await g.getByTestId("pending-count").innerText()) === "1", "one scan waits to upload");
    await shot(g, "19-gate-offline-pending");
    await context.setOffline(false);
    await shows(g, "pending-count", "0");
    check((await g.locator(".doubles li").count()) === 0, "no double entry");
    // The server has both check-ins: the organizer's attendee list says when.
    const [download] = await Promise.all([
      organizerPage.waitForEvent("download"),
      organizerPage.getByRole("button", { name: "Download attendees (CSV)" }).click(),
    ]);
    const rows = readFileSync(await download.path(), "utf8").trim().split("\n").slice(1);
    check(rows.length === 2 && rows.every((r) => /,\d{4}-\d\d-\d\dT[^,]+$/.test(r)), `both checked in: ${rows.join(" | ")}`);
  });

  await step("a buyer waits in the waiting room, is admitted at the sales start, and buys", async () => {
    // The organizer puts an event on sale in 20 s behind a waiting room, through the API.
    const login = await fetch(`${base}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: organizerEmail, password: organizerPassword }),
    });
    const { access_token: organizerToken } = await login.json();
    const asOrganizer = (method, path, body) =>
      fetch(`${base}/api/organizer/events${path}`, {
        method,
        headers: { authorization: `Bearer ${organizerToken}`, "content-type": "application/json" },
        body: body && JSON.stringify(body),
      });
    const salesStart = new Date(Date.now() + 20_000);
    const created = await asOrganizer("POST", "", {
      title: `Rush Night ${unique}`, category: "concert", description: "An on-sale behind a waiting room.",
      venue: "Queue Hall", city: "Lisbon",
      starts_at: new Date(Date.now() + 7 * 86_400_000).toISOString(), sales_start: salesStart.toISOString(),
      tiers: [{ name: "Floor", price_cents: 3000 }],
      sections: [{ name: "Floor", rows: [{ name: "A", seats: 6, tier: "Floor" }] }],
    });
    check(created.status === 201, `the event was created: ${created.status}`);
    const { id } = await created.json();
    check((await asOrganizer("POST", `/${id}/publish`)).status === 200, "and published");
    const room = await asOrganizer("PUT", `/${id}/waiting-room`, {
      opens_at: new Date(Date.now() - 60_000).toISOString(), admit_per_minute: 60, admission_minutes: 10,
    });
    check(room.status === 200, `the waiting room is on: ${room.status}`);

    // The buyer comes early: the event page sends them to the room, where they wait for the draw.
    await page.goto(`${base}/events/${id}`);
    await page.waitForURL(new RegExp(`/events/${id}/queue$`));
    await page.getByText("You are in.").waitFor();
    await page.getByText(/random order/).waitFor();
    await shot(page, "20-waiting-room");
    // At the sales start the room admits them and the page moves on by itself.
    await page.waitForURL(new RegExp(`/events/${id}$`), { timeout: salesStart.getTime() - Date.now() + 30_000 });
    check(Date.now() >= salesStart.getTime() - 1_000, "not admitted before the sales start");
    check(await page.evaluate((e) => sessionStorage.getItem(`tb.admission.${e}`) !== null, id), "the admission is kept");
    await page.locator('.seat[data-status="available"]').first().click();
    await page.getByRole("button", { name: /Hold 1 seat/ }).click();
    await page.getByRole("button", { name: "Buy now" }).click();
    await page.getByText("Your tickets are ready").waitFor({ timeout: 15_000 });
    await shot(page, "21-admitted-and-bought");
  });
} catch {
  // Reported by its step; the summary below counts it.
} finally {
  await Promise.all(gateBrowsers.map((b) => b.close()));
  await browser.close();
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`browser tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
