-- Sign-in through an external OpenID Connect issuer (Keycloak, say): the issuer's subject
-- is linked to a local account on first use, so ownership, gate staff and orders keep
-- working on local account ids.

-- Accounts made for an issuer's users have no password; login refuses them like a wrong one.
ALTER TABLE auth.users ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE auth.external_identities (
    issuer    text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
    subject   text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id   uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX external_identities_by_user ON auth.external_identities (user_id);

-- The local account of an issuer's subject, linked on first use: the account with
-- `account_email` (a verified address of the subject, or one made up for it), made with
-- no password if there is none. Safe when two first requests race: the e-mail address and
-- the (issuer, subject) pair are unique, and the loser reads the winner's rows.
CREATE FUNCTION auth.link_external_identity(
    link_issuer text, link_subject text, account_email text, account_name text
) RETURNS TABLE (account_id text, account_role text)
LANGUAGE plpgsql AS $$
DECLARE
    linked uuid;
BEGIN
    SELECT x.user_id INTO linked
    FROM auth.external_identities x
    WHERE x.issuer = link_issuer AND x.subject = link_subject;
    IF linked IS NULL THEN
        INSERT INTO auth.users (email, name, password_hash)
        VALUES (account_email, account_name, NULL)
        ON CONFLICT (email) DO NOTHING;
        INSERT INTO auth.external_identities (issuer, subject, user_id)
        SELECT link_issuer, link_subject, u.id FROM auth.users u WHERE u.email = account_email
        ON CONFLICT (issuer, subject) DO NOTHING;
        SELECT x.user_id INTO linked
        FROM auth.external_identities x
        WHERE x.issuer = link_issuer AND x.subject = link_subject;
    END IF;
    RETURN QUERY SELECT u.id::text, u.role FROM auth.users u WHERE u.id = linked;
END
$$;
