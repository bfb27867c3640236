// Ticket codes (what a ticket's QR holds): compact JWTs signed EdDSA (Ed25519) by the
// ticket service. A scanner checks one offline with the public keys of the gate bundle.

import { verifyAsync } from "@noble/ed25519";

/** A public key of the gate bundle, as a JWK. */
export interface Ed25519Jwk {
  kty: string;
  crv: string;
  /** The 32-byte public key, base64url. */
  x: string;
  kid?: string;
}

export interface TicketClaims {
  /** The ticket's id. */
  tid: string;
  eid: number;
  sid: number;
  /** "Section/Row/Number". */
  loc: string;
  iss: string;
  iat: number;
}

export function base64urlBytes(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function jsonPart(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(base64urlBytes(text)));
    return value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function isClaims(value: Record<string, unknown>): value is Record<string, unknown> & TicketClaims {
  return (
    typeof value.tid === "string" &&
    typeof value.eid === "number" &&
    typeof value.sid === "number" &&
    typeof value.loc === "string" &&
    typeof value.iss === "string"
  );
}

/**
 * The claims of a code whose EdDSA signature one of `keys` made and whose issuer is
 * `issuer`; null for anything else (another kind of QR, a forged or altered code). A
 * header's `kid` that names a bundle key picks it; otherwise every key is tried (the
 * ticket service signs without a `kid`).
 */
export async function verifyTicketCode(
  code: string,
  keys: readonly Ed25519Jwk[],
  issuer: string,
): Promise<TicketClaims | null> {
  const parts = code.trim().split(".");
  if (parts.length !== 3) return null;
  const [headerText, payloadText, signatureText] = parts;
  const header = jsonPart(headerText);
  const payload = jsonPart(payloadText);
  if (!header || !payload || header.alg !== "EdDSA" || !isClaims(payload) || payload.iss !== issuer) return null;
  let signature: Uint8Array;
  try {
    signature = base64urlBytes(signatureText);
  } catch {
    return null;
  }
  if (signature.length !== 64) return null;
  const signed = new TextEncoder().encode(`${headerText}.${payloadText}`);
  const usable = keys.filter((k) => k.kty === "OKP" && k.crv === "Ed25519");
  const named = usable.filter((k) => header.kid !== undefined && k.kid === header.kid);
  const candidates = named.length ? named : usable;
  for (const key of candidates) {
    try {
      const publicKey = base64urlBytes(key.x);
      if (publicKey.length === 32 && (await verifyAsync(signature, signed, publicKey))) return payload;
    } catch {
      // A malformed key in the bundle: the next one may still verify.
    }
  }
  return null;
}

/** "Stalls/B/12" → "Stalls / B / 12"; a section's name may itself hold a slash. */
export function seatLabel(loc: string): string {
  const parts = loc.split("/");
  if (parts.length < 3) return loc;
  const number = parts.pop();
  const row = parts.pop();
  return `${parts.join("/")} / ${row} / ${number}`;
}
