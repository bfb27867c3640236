// What the gate says about a scanned code. Online the API decides; offline this device
// does, from the gate bundle (keys, void and checked-in tickets) and its own scans.

import type { CheckinAnswer, GateBundle, ScanStatus } from "./gate-api";
import { seatLabel, verifyTicketCode } from "./ticket-code";

export interface Verdict extends CheckinAnswer {
  /** Decided on this device, from the bundle, to be uploaded later. */
  offline: boolean;
}

/** A ticket admitted by this scanner, when and where. */
export interface AdmittedHere {
  at: string;
  gate: string;
}

/** What this scanner calls itself in its own verdicts. */
export const THIS_SCANNER = "this scanner";

/** The big word on the screen, and whether it is good news. */
export function headline(status: ScanStatus): { text: string; admit: boolean } {
  switch (status) {
    case "ok":
      return { text: "Admit", admit: true };
    case "already_redeemed":
      return { text: "Already used", admit: false };
    case "invalid":
      return { text: "Not a valid ticket", admit: false };
    case "void":
      return { text: "Cancelled ticket", admit: false };
    case "wrong_event":
      return { text: "Wrong event", admit: false };
  }
}

/**
 * The verdict on a code for `bundle`'s event without the server: the signature against the
 * bundle's keys, then the event, the void list, the tickets checked in when the bundle was
 * made and those this scanner admitted since.
 */
export async function offlineVerdict(
  code: string,
  bundle: GateBundle,
  admittedHere: ReadonlyMap<string, AdmittedHere>,
): Promise<Verdict> {
  const claims = await verifyTicketCode(code, bundle.keys, bundle.issuer);
  if (!claims) {
    return { status: "invalid", message: "This code is not a ticket of ours.", offline: true };
  }
  const ticket = { ticket_id: claims.tid, event_id: claims.eid, seat: seatLabel(claims.loc), offline: true };
  if (claims.eid !== bundle.event_id) {
    return { ...ticket, status: "wrong_event", message: "This ticket is for another event." };
  }
  if (bundle.void.includes(claims.tid)) {
    return { ...ticket, status: "void", message: "This ticket was cancelled." };
  }
  const here = admittedHere.get(claims.tid);
  if (here) {
    return {
      ...ticket,
      status: "already_redeemed",
      message: "This ticket was already scanned.",
      first_checkin_at: here.at,
      gate: here.gate,
    };
  }
  if (bundle.checked_in.includes(claims.tid)) {
    return {
      ...ticket,
      status: "already_redeemed",
      message: "This ticket was checked in before this scanner downloaded its list.",
    };
  }
  return { ...ticket, status: "ok", message: "Valid ticket." };
}
