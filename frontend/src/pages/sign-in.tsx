import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, messageOf } from "../api";
import { signedIn } from "../session";

/** `/login` and `/register`; `?next=` says where to go afterwards. */
export function SignInPage() {
  const { path, query, route } = useLocation();
  const mode = path === "/register" ? "register" : "login";
  const next = query.next?.startsWith("/") ? query.next : "/";
  return (
    <section class="narrow">
      <h1>{mode === "register" ? "Create your account" : "Sign in"}</h1>
      <AccountForm mode={mode} onDone={() => route(next)} />
      <p>
        {mode === "register" ? (
          <>
            Already have an account? <a href={`/login?next=${encodeURIComponent(next)}`}>Sign in</a>
          </>
        ) : (
          <>
            New here? <a href={`/register?next=${encodeURIComponent(next)}`}>Create an account</a>
          </>
        )}
      </p>
    </section>
  );
}

export function AccountForm({ mode, onDone }: { mode: "login" | "register"; onDone?: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const tokens = mode === "register" ? await api.register(email, password, name) : await api.login(email, password);
      signedIn(tokens);
      onDone?.();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="form" onSubmit={submit} aria-describedby={error ? "account-error" : undefined}>
      {mode === "register" && (
        <label>
          Name
          <input required maxLength={100} autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
      )}
      <label>
        Email
        <input
          type="email"
          required
          autocomplete="email"
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
      </label>
      <label>
        Password
        <input
          type="password"
          required
          minLength={mode === "register" ? 10 : undefined}
          autocomplete={mode === "register" ? "new-password" : "current-password"}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {mode === "register" && <span class="hint">At least 10 characters.</span>}
      </label>
      {error && (
        <p class="error" id="account-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? "Please wait…" : mode === "register" ? "Create account" : "Sign in"}
      </button>
    </form>
  );
}
