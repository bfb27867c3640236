CREATE TABLE auth.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    role          text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'organizer', 'gate')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON auth.users (email);

-- Refresh tokens rotate: each use marks the token used and issues its successor in the
-- same family. A used token presented again means theft, and revokes the whole family.
CREATE TABLE auth.refresh_tokens (
    token_hash text PRIMARY KEY CHECK (length(token_hash) = 64),
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    family_id  uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON auth.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON auth.refresh_tokens (user_id);
