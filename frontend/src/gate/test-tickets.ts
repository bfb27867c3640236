// Real ticket codes for the tests: an Ed25519 key made on the spot, and compact JWTs
// signed with it exactly as the ticket service signs them (EdDSA, base64url parts).

import { getPublicKeyAsync, signAsync, utils } from "@noble/ed25519";
import type { GateBundle } from "./gate-api";
import type { Ed25519Jwk, TicketClaims } from "./ticket-code";

export const ISSUER = "ticketbuster-tickets";

export function base64url(bytes: Uint8Array | string): string {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export interface TestKey {
  secretKey: Uint8Array;
  jwk: Ed25519Jwk;
}

export async function newKey(kid?: string): Promise<TestKey> {
  const secretKey = utils.randomSecretKey();
  const x = base64url(await getPublicKeyAsync(secretKey));
  return { secretKey, jwk: { kty: "OKP", crv: "Ed25519", x, ...(kid ? { kid } : {}) } };
}

export function claims(change: Partial<TicketClaims> = {}): TicketClaims {
  return { tid: "t-1", eid: 7, sid: 101, loc: "Stalls/B/12", iss: ISSUER, iat: 1_800_000_000, ...change };
}

export async function ticketCode(key: TestKey, payload: object, header: object = { alg: "EdDSA", typ: "JWT" }) {
  const signed = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = await signAsync(new TextEncoder().encode(signed), key.secretKey);
  return `${signed}.${base64url(signature)}`;
}

export function bundle(key: TestKey, change: Partial<GateBundle> = {}): GateBundle {
  return {
    event_id: 7,
    generated_at: "2026-12-01T18:00:00Z",
    issuer: ISSUER,
    keys: [key.jwk],
    void: [],
    checked_in: [],
    ...change,
  };
}
