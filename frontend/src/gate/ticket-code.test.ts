import { describe, expect, it } from "vitest";
import { base64url, claims, ISSUER, newKey, ticketCode } from "./test-tickets";
import { seatLabel, verifyTicketCode } from "./ticket-code";

describe("verifyTicketCode", () => {
  it("gives the claims of a code signed with a bundle key", async () => {
    const key = await newKey();
    const code = await ticketCode(key, claims());
    expect(await verifyTicketCode(code, [key.jwk], ISSUER)).toEqual(claims());
  });

  it("refuses a code whose payload was altered after signing", async () => {
    const key = await newKey();
    const [header, , signature] = (await ticketCode(key, claims())).split(".");
    const forged = `${header}.${base64url(JSON.stringify(claims({ tid: "t-2" })))}.${signature}`;
    expect(await verifyTicketCode(forged, [key.jwk], ISSUER)).toBeNull();
  });

  it("refuses a code signed by a key the bundle does not have", async () => {
    const [ours, theirs] = [await newKey(), await newKey()];
    expect(await verifyTicketCode(await ticketCode(theirs, claims()), [ours.jwk], ISSUER)).toBeNull();
  });

  it("finds the key a header's kid names among several, and only that one", async () => {
    const [old, current] = [await newKey("2025"), await newKey("2026")];
    const code = await ticketCode(current, claims(), { alg: "EdDSA", kid: "2026" });
    expect(await verifyTicketCode(code, [old.jwk, current.jwk], ISSUER)).not.toBeNull();
    const misnamed = await ticketCode(current, claims(), { alg: "EdDSA", kid: "2025" });
    expect(await verifyTicketCode(misnamed, [old.jwk, current.jwk], ISSUER)).toBeNull();
  });

  it("tries every key when the header names none, or one the bundle does not have (a rotated key)", async () => {
    const [old, current] = [await newKey("2025"), await newKey("2026")];
    expect(await verifyTicketCode(await ticketCode(old, claims()), [current.jwk, old.jwk], ISSUER)).not.toBeNull();
    const unknownKid = await ticketCode(old, claims(), { alg: "EdDSA", kid: "elsewhere" });
    expect(await verifyTicketCode(unknownKid, [current.jwk, old.jwk], ISSUER)).not.toBeNull();
  });

  it("refuses another issuer's token, another algorithm and codes that are not JWTs", async () => {
    const key = await newKey();
    expect(await verifyTicketCode(await ticketCode(key, claims({ iss: "someone-else" })), [key.jwk], ISSUER)).toBeNull();
    expect(await verifyTicketCode(await ticketCode(key, claims(), { alg: "HS256" }), [key.jwk], ISSUER)).toBeNull();
    expect(await verifyTicketCode(await ticketCode(key, { tid: "t-1" }), [key.jwk], ISSUER)).toBeNull();
    for (const junk of ["", "https://example.com/", "a.b.c", "a.b", "***.***.***"]) {
      expect(await verifyTicketCode(junk, [key.jwk], ISSUER)).toBeNull();
    }
  });
});

describe("seatLabel", () => {
  it("spaces the parts, keeping slashes inside a section's name", () => {
    expect(seatLabel("Stalls/B/12")).toBe("Stalls / B / 12");
    expect(seatLabel("Stand A/B/3/7")).toBe("Stand A/B / 3 / 7");
    expect(seatLabel("odd")).toBe("odd");
  });
});
