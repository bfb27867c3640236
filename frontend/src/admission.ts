// Admission tokens from events' waiting rooms, kept per event for this tab until they
// expire, and sent with holds on that event (the `Admission-Token` header).

export interface Admission {
  token: string;
  expiresAt: string;
}

const KEY_PREFIX = "tb.admission.";

function key(eventId: number): string {
  return `${KEY_PREFIX}${eventId}`;
}

/** Keeps the admission the queue gave for `eventId`. */
export function rememberAdmission(eventId: number, admission: Admission) {
  sessionStorage.setItem(key(eventId), JSON.stringify(admission));
}

export function forgetAdmission(eventId: number) {
  sessionStorage.removeItem(key(eventId));
}

/** The admission for `eventId` if it is still running at `now` (ms). */
export function admissionFor(eventId: number, now = Date.now()): Admission | null {
  const raw = sessionStorage.getItem(key(eventId));
  if (!raw) return null;
  try {
    const admission = JSON.parse(raw) as Admission;
    if (typeof admission.token === "string" && Date.parse(admission.expiresAt) > now) return admission;
  } catch {
    // Unreadable: as if absent.
  }
  forgetAdmission(eventId);
  return null;
}

/** The headers a hold on `eventId` carries: the admission token when there is one. */
export function admissionHeaders(eventId: number): Record<string, string> {
  const admission = admissionFor(eventId);
  return admission ? { "admission-token": admission.token } : {};
}
