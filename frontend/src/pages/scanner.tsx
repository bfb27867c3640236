import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { formatDate, messageOf } from "../api";
import { useOnline, useUser } from "../hooks";
import { startCamera, type Camera } from "../gate/camera";
import { gateApi, type GateEvent } from "../gate/gate-api";
import { doubleEntries, uploadPending, type ScanRecord } from "../gate/queue";
import { scanCode, type ScannerDeps } from "../gate/scanner";
import { saveBundle, savedBundle, savedBundles, scanStore, scansOf, type SavedBundle } from "../gate/store";
import { headline, type Verdict } from "../gate/verdict";

/** How often the bundle is fetched again while online (new void and checked-in tickets). */
const BUNDLE_REFRESH_MS = 60_000;
/** How often pending scans are offered again while online. */
const UPLOAD_RETRY_MS = 15_000;
/**
 * The camera ignores the code it just read for this long after its verdict is closed:
 * the holder's ticket is often still in view, and is not a second try.
 */
const SAME_CODE_PAUSE_MS = 3_000;

const deps: ScannerDeps = {
  checkin: gateApi.checkin,
  batch: async (scans) => (await gateApi.batch(scans)).results,
  store: { ...scanStore, scansOf },
  online: () => navigator.onLine,
  now: () => new Date(),
};

/** `/scanner`, and `/scanner?event=ID` once an event is chosen. */
export function ScannerPage() {
  const user = useUser();
  const { query } = useLocation();
  if (!user) {
    return (
      <section>
        <h1>Scanner</h1>
        <p>
          <a href="/login?next=/scanner">Sign in</a> with your gate account to scan tickets.
        </p>
      </section>
    );
  }
  if (user.role !== "gate") {
    return (
      <section>
        <h1>Scanner</h1>
        <p>This page is for gate staff. An organizer names gate staff for an event.</p>
      </section>
    );
  }
  const eventId = Number(query.event);
  return Number.isInteger(eventId) && eventId > 0 ? <Scanning eventId={eventId} /> : <ChooseEvent />;
}

function ChooseEvent() {
  const online = useOnline();
  const [events, setEvents] = useState<GateEvent[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let current = true;
    const saved = savedBundles().then((b) => b.map((s) => s.event));
    (online ? gateApi.events().then((r) => r.events) : saved)
      .catch(async (e: unknown) => {
        setError(messageOf(e));
        return saved;
      })
      .then((list) => current && setEvents(list));
    return () => {
      current = false;
    };
  }, [online]);
  return (
    <section>
      <h1>Scanner</h1>
      <h2>Choose the event</h2>
      {!online && <p class="muted">Offline: the events this scanner downloaded before.</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {events === null && <p class="loading">Loading your events…</p>}
      {events?.length === 0 && <p>No events to scan yet: an organizer has to name you gate staff.</p>}
      <ul class="gate-events">
        {events?.map((e) => (
          <li>
            <a class="button" href={`/scanner?event=${e.id}`}>
              {e.title}
            </a>
            <span class="muted small">
              {formatDate(e.starts_at)} · {e.venue}, {e.city}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Scanning({ eventId }: { eventId: number }) {
  const online = useOnline();
  const [saved, setSaved] = useState<SavedBundle | null | undefined>(undefined);
  const [bundleError, setBundleError] = useState("");
  const [scans, setScans] = useState<ScanRecord[]>([]);
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [scanError, setScanError] = useState("");
  const [syncError, setSyncError] = useState("");
  const [manual, setManual] = useState("");
  const [camera, setCamera] = useState<Camera | null>(null);
  const [cameraError, setCameraError] = useState("");
  const video = useRef<HTMLVideoElement>(null);
  const busy = useRef(false);
  const showing = useRef(false);
  const lastCode = useRef({ code: "", until: 0 });
  showing.current = verdict !== null;
  const savedRef = useRef<SavedBundle | null | undefined>(saved);
  savedRef.current = saved;

  const reloadScans = () => scansOf(eventId).then(setScans);

  async function refreshBundle() {
    if (!navigator.onLine) return;
    try {
      const [bundle, { events }] = await Promise.all([gateApi.bundle(eventId), gateApi.events()]);
      const event = events.find((e) => e.id === eventId);
      if (!event) {
        setBundleError("You are not gate staff of this event.");
        return;
      }
      const next = { event, bundle, savedAt: new Date().toISOString() };
      await saveBundle(next);
      setSaved(next);
      setBundleError("");
    } catch (e) {
      setBundleError(messageOf(e));
    }
  }

  const uploading = useRef(false);
  async function upload() {
    // One upload at a time: two would send the same scans (harmless, thanks to the nonces, but wasted).
    if (!navigator.onLine || uploading.current) return;
    uploading.current = true;
    try {
      await uploadPending(scanStore, deps.batch);
      setSyncError("");
    } catch (e) {
      setSyncError(messageOf(e));
    } finally {
      uploading.current = false;
    }
    await reloadScans();
  }

  useEffect(() => {
    let current = true;
    savedBundle(eventId).then((s) => current && setSaved(s ?? null));
    reloadScans();
    refreshBundle();
    upload();
    const refresh = setInterval(refreshBundle, BUNDLE_REFRESH_MS);
    return () => {
      current = false;
      clearInterval(refresh);
    };
  }, [eventId]);

  const pending = scans.filter((s) => s.pending).length;
  useEffect(() => {
    if (!online) return;
    upload();
    if (pending === 0) return;
    const retry = setInterval(upload, UPLOAD_RETRY_MS);
    return () => clearInterval(retry);
  }, [online, pending > 0]);

  useEffect(() => () => camera?.stop(), [camera]);

  async function scan(code: string) {
    const current = savedRef.current;
    if (busy.current || showing.current || !current || !code.trim()) return;
    busy.current = true;
    lastCode.current = { code, until: Infinity };
    setScanError("");
    try {
      setVerdict(await scanCode(deps, current.bundle, code.trim()));
      setManual("");
    } catch (e) {
      setScanError(messageOf(e));
    } finally {
      busy.current = false;
      await reloadScans();
    }
    if (navigator.onLine) upload();
  }

  async function toggleCamera() {
    if (camera) {
      camera.stop();
      setCamera(null);
      return;
    }
    setCameraError("");
    try {
      if (!video.current) return;
      const onCode = (code: string) => {
        const seenJustNow = code === lastCode.current.code && Date.now() < lastCode.current.until;
        if (!seenJustNow) scan(code);
      };
      setCamera(await startCamera(video.current, onCode, () => busy.current || showing.current));
    } catch (e) {
      setCameraError(
        e instanceof DOMException && e.name === "NotAllowedError"
          ? "The camera was refused. Allow it in the browser's settings, or type the code below."
          : "No camera could be opened. Type the code below.",
      );
    }
  }

  const doubles = doubleEntries(scans);
  const problems = scans.filter((s) => s.uploaded && !s.uploaded.double_entry && s.uploaded.status !== "ok");
  const admitted = scans.filter((s) => s.status === "ok").length;

  return (
    <section class="scanner">
      <p>
        <a href="/scanner">Change event</a>
      </p>
      <h1>{saved?.event.title ?? "Scanner"}</h1>
      {saved === null && !online && (
        <p class="error" role="alert">
          This scanner has no list for this event yet. Open it once while online.
        </p>
      )}
      {bundleError && (
        <p class="error" role="alert">
          {bundleError}
        </p>
      )}
      <p class="muted" role="status" aria-live="polite" data-testid="scanner-status">
        {online ? "Online: the server checks each ticket." : "Offline: tickets are checked on this device."}{" "}
        {saved && <>Ticket list from {formatDate(saved.bundle.generated_at)}.</>}
      </p>
      <div class="scanner-stats">
        <p>
          <strong data-testid="admitted-count">{admitted}</strong> admitted here
        </p>
        <p>
          <strong data-testid="pending-count">{pending}</strong> {pending === 1 ? "scan" : "scans"} waiting to upload
        </p>
      </div>
      {syncError && (
        <p class="error" role="alert">
          Upload failed: {syncError}
        </p>
      )}
      <div class="camera">
        <video ref={video} aria-label="Camera" hidden={!camera} />
        <button type="button" onClick={toggleCamera} disabled={!saved}>
          {camera ? "Stop camera" : "Start camera"}
        </button>
        {camera && (
          <p class="muted small">Point the camera at a ticket's QR code ({camera.decoder === "native" ? "built-in reader" : "jsQR"}).</p>
        )}
        {cameraError && (
          <p class="error" role="alert">
            {cameraError}
          </p>
        )}
      </div>
      <form
        class="manual-code"
        onSubmit={(e) => {
          e.preventDefault();
          scan(manual);
        }}
      >
        <label>
          Ticket code
          <input value={manual} autocomplete="off" spellcheck={false} onInput={(e) => setManual(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={!saved || !manual.trim()}>
          Check
        </button>
      </form>
      {scanError && (
        <p class="error" role="alert">
          {scanError}
        </p>
      )}
      {(doubles.length > 0 || problems.length > 0) && (
        <section aria-labelledby="doubles-title">
          <h2 id="doubles-title">Reported after upload</h2>
          <ul class="doubles">
            {doubles.map((s) => (
              <li data-ticket={s.ticket_id}>
                <strong>Double entry</strong>: ticket {s.ticket_id}, scanned here {formatDate(s.scanned_at)}
                {s.uploaded?.first_checkin_at && <>, first admitted {formatDate(s.uploaded.first_checkin_at)}</>}
                {s.uploaded?.gate && <> at {s.uploaded.gate}</>}.
              </li>
            ))}
            {problems.map((s) => (
              <li data-ticket={s.ticket_id}>
                <strong>{headline(s.uploaded!.status).text}</strong>: ticket {s.ticket_id}, scanned here{" "}
                {formatDate(s.scanned_at)}. {s.uploaded!.message}
              </li>
            ))}
          </ul>
        </section>
      )}
      {verdict && (
        <VerdictScreen
          verdict={verdict}
          onNext={() => {
            lastCode.current = { ...lastCode.current, until: Date.now() + SAME_CODE_PAUSE_MS };
            setVerdict(null);
          }}
        />
      )}
    </section>
  );
}

/** Green or red over the whole screen, with the reason; the next scan waits for a tap. */
function VerdictScreen({ verdict, onNext }: { verdict: Verdict; onNext: () => void }) {
  const { text, admit } = headline(verdict.status);
  const next = useRef<HTMLButtonElement>(null);
  useEffect(() => next.current?.focus(), []);
  return (
    <div class={`verdict ${admit ? "admit" : "refuse"}`} role="alert" data-status={verdict.status} onClick={onNext}>
      {/* A tap anywhere closes it; the button is there for the keyboard and screen readers. */}
      <p class="verdict-headline">{text}</p>
      {verdict.seat && <p class="verdict-seat">{verdict.seat}</p>}
      <p>{verdict.message}</p>
      {verdict.status === "already_redeemed" && verdict.first_checkin_at && (
        <p>
          First scanned {formatDate(verdict.first_checkin_at)}
          {verdict.gate && <> at {verdict.gate}</>}
        </p>
      )}
      {verdict.offline && (
        <p class="small">
          Checked on this device (offline){verdict.status === "ok" && "; the admission will be uploaded"}.
        </p>
      )}
      <button type="button" ref={next}>
        Scan next
      </button>
    </div>
  );
}
