import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const USER = { id: "u1", email: "ada@example.com", name: "Ada", role: "customer" };

function tokens(access: string, refresh: string, expiresIn = 900) {
  return { access_token: access, refresh_token: refresh, expires_in: expiresIn, user: USER };
}

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** A fresh copy of the module, as a page load would have. */
async function freshSession() {
  vi.resetModules();
  return import("./session");
}

describe("the session", () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    localStorage.clear();
    fetchMock = vi.fn();
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("sends the access token while it is fresh, without refreshing", async () => {
    const session = await freshSession();
    session.signedIn(tokens("a1", "r1"));
    fetchMock.mockResolvedValueOnce(json(200, { ok: true }));
    await session.authorizedFetch("/api/holds");
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(new Headers(fetchMock.mock.calls[0][1].headers).get("authorization")).toBe("Bearer a1");
  });

  it("refreshes quietly, once, when the token is about to lapse", async () => {
    const session = await freshSession();
    session.signedIn(tokens("a1", "r1", 30));
    fetchMock.mockImplementation(async (path: string) =>
      path === "/api/auth/refresh" ? json(200, tokens("a2", "r2")) : json(200, {}),
    );
    await Promise.all([session.authorizedFetch("/api/holds"), session.authorizedFetch("/api/orders")]);
    const refreshes = fetchMock.mock.calls.filter(([path]) => path === "/api/auth/refresh");
    expect(refreshes).toHaveLength(1);
    expect(JSON.parse(refreshes[0][1].body)).toEqual({ refresh_token: "r1" });
    const sent = fetchMock.mock.calls.filter(([path]) => path !== "/api/auth/refresh");
    expect(sent.map(([, init]) => new Headers(init.headers).get("authorization"))).toEqual(["Bearer a2", "Bearer a2"]);
    expect(JSON.parse(localStorage.getItem("tb.session") ?? "{}").refreshToken).toBe("r2");
  });

  it("answers a 401 with one refresh and sends the request again", async () => {
    const session = await freshSession();
    session.signedIn(tokens("revoked", "r1"));
    fetchMock
      .mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "expired" } }))
      .mockResolvedValueOnce(json(200, tokens("a2", "r2")))
      .mockResolvedValueOnce(json(200, { ok: true }));
    const answer = await session.authorizedFetch("/api/holds");
    expect(answer.status).toBe(200);
    expect(fetchMock.mock.calls.map(([path]) => path)).toEqual(["/api/holds", "/api/auth/refresh", "/api/holds"]);
  });

  it("asks to sign in when the session cannot be refreshed, then carries on", async () => {
    const session = await freshSession();
    session.signedIn(tokens("a1", "r1", 30));
    fetchMock
      .mockResolvedValueOnce(json(401, { error: { code: "unauthorized", message: "revoked" } }))
      .mockResolvedValueOnce(json(200, { ok: true }));
    const pending = session.authorizedFetch("/api/holds");
    await vi.waitFor(() => expect(session.isSignInNeeded()).toBe(true));
    expect(session.currentUser()).toBeNull();
    session.signedIn(tokens("a3", "r3"));
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(new Headers(fetchMock.mock.calls[1][1].headers).get("authorization")).toBe("Bearer a3");
    expect(session.isSignInNeeded()).toBe(false);
  });

  it("fetches new tokens when the account's role changed since sign-in, and only then", async () => {
    const session = await freshSession();
    session.signedIn(tokens("a1", "r1"));
    const organizer = { ...USER, role: "organizer" };
    fetchMock.mockImplementation(async (path: string) =>
      path === "/api/auth/refresh" ? json(200, { ...tokens("a2", "r2"), user: organizer }) : json(200, organizer),
    );
    await session.syncRole();
    expect(session.currentUser()?.role).toBe("organizer");
    expect(fetchMock.mock.calls.map(([path]) => path)).toEqual(["/api/auth/me", "/api/auth/refresh"]);
    await session.syncRole();
    expect(fetchMock.mock.calls.map(([path]) => path)).toEqual(["/api/auth/me", "/api/auth/refresh", "/api/auth/me"]);
  });

  it("fails the waiting request when the user declines to sign in", async () => {
    const session = await freshSession();
    const pending = session.authorizedFetch("/api/holds");
    await vi.waitFor(() => expect(session.isSignInNeeded()).toBe(true));
    session.abandonSignIn();
    expect((await pending).status).toBe(401);
    expect(fetchMock).not.toHaveBeenCalled();
  });
});
