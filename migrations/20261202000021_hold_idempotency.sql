-- Holds take an optional Idempotency-Key, as orders do: a hold whose answer was lost (the
-- server restarted, the network dropped) and is sent again with the same key answers the
-- hold the first attempt made instead of holding more seats and stranding the first ones
-- until they expire.

-- `request`: what the key was first sent with (the event and the seats or the quantity
-- asked for), so that a key sent again with another request is refused, not replayed.
ALTER TABLE catalog.holds
    ADD COLUMN idempotency_key text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    ADD COLUMN request text,
    ADD CONSTRAINT holds_key_names_request CHECK ((idempotency_key IS NULL) = (request IS NULL));
CREATE UNIQUE INDEX holds_by_idempotency_key ON catalog.holds (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The hold an account already made with this key, if any, and what to answer:
--   'replayed'      the same request, the hold still live: answer it again;
--   'other_request' the key made a hold for another request;
--   'ended'         the same request, but its hold expired or was released.
-- It first locks the (account, key) pair for the rest of the transaction, so two attempts
-- of one request at once run one after the other and the second finds the first's hold.
-- This lock comes before the account's and the seats' locks on every path, so it adds no
-- deadlock.
CREATE FUNCTION catalog.hold_made_with_key(p_user_id uuid, p_key text, p_request text)
RETURNS TABLE (replay text, hold_id text, expires_at text, seat_ids bigint[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF p_key IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(p_key, hashtext(p_user_id::text)));
    RETURN QUERY
    SELECT CASE WHEN h.request <> p_request THEN 'other_request'
                WHEN h.released_at IS NOT NULL OR h.expires_at <= now() THEN 'ended'
                ELSE 'replayed' END,
           h.id::text, iso_utc(h.expires_at), h.seat_ids
    FROM catalog.holds h
    WHERE h.user_id = p_user_id AND h.idempotency_key = p_key;
END
$$;

-- Labels a new hold with the key and the request that made it (nothing without either).
CREATE FUNCTION catalog.label_hold(p_hold_id text, p_key text, p_request text) RETURNS void
LANGUAGE sql
AS $$
    UPDATE catalog.holds SET idempotency_key = p_key, request = p_request
    WHERE p_key IS NOT NULL AND id = p_hold_id::uuid
$$;

-- The holds of migration 19 keep their work under new names; hold_seats and
-- hold_best_available become: the hold this key made, or a new hold labelled with the key.
ALTER FUNCTION catalog.hold_seats(bigint, bigint[], uuid, bigint, bigint, bigint)
    RENAME TO hold_chosen_seats;
ALTER FUNCTION catalog.hold_best_available(bigint, bigint, text, text, uuid, bigint, bigint, bigint)
    RENAME TO hold_best_block;

CREATE FUNCTION catalog.hold_seats(
    p_event_id bigint,
    p_seat_ids bigint[],
    p_user_id uuid,
    p_ttl_seconds bigint,
    p_max_held_seats bigint,
    p_max_tickets bigint,
    p_idempotency_key text,
    p_request text
) RETURNS TABLE (
    event_open boolean,
    hold_id text,
    expires_at text,
    unavailable bigint[],
    unknown bigint[],
    cap text,
    cap_limit bigint,
    seats_allowed bigint,
    replay text
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_made record;
    v_hold record;
BEGIN
    SELECT * INTO v_made FROM catalog.hold_made_with_key(p_user_id, p_idempotency_key, p_request);
    IF FOUND THEN
        RETURN QUERY SELECT true, v_made.hold_id, v_made.expires_at, '{}'::bigint[], '{}'::bigint[],
                            NULL::text, NULL::bigint, NULL::bigint, v_made.replay;
        RETURN;
    END IF;
    SELECT * INTO v_hold
    FROM catalog.hold_chosen_seats(p_event_id, p_seat_ids, p_user_id, p_ttl_seconds, p_max_held_seats, p_max_tickets);
    PERFORM catalog.label_hold(v_hold.hold_id, p_idempotency_key, p_request);
    RETURN QUERY SELECT v_hold.event_open, v_hold.hold_id, v_hold.expires_at, v_hold.unavailable, v_hold.unknown,
                        v_hold.cap, v_hold.cap_limit, v_hold.seats_allowed, NULL::text;
END
$$;

CREATE FUNCTION catalog.hold_best_available(
    p_event_id bigint,
    p_quantity bigint,
    p_tier text,
    p_section text,
    p_user_id uuid,
    p_ttl_seconds bigint,
    p_max_held_seats bigint,
    p_max_tickets bigint,
    p_idempotency_key text,
    p_request text
) RETURNS TABLE (
    event_open boolean,
    unknown_field text,
    hold_id text,
    expires_at text,
    seat_ids bigint[],
    cap text,
    cap_limit bigint,
    seats_allowed bigint,
    seats_left bigint,
    largest_block bigint,
    replay text
)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    v_made record;
    v_hold record;
BEGIN
    SELECT * INTO v_made FROM catalog.hold_made_with_key(p_user_id, p_idempotency_key, p_request);
    IF FOUND THEN
        RETURN QUERY SELECT true, NULL::text, v_made.hold_id, v_made.expires_at, v_made.seat_ids,
                            NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, v_made.replay;
        RETURN;
    END IF;
    SELECT * INTO v_hold
    FROM catalog.hold_best_block(p_event_id, p_quantity, p_tier, p_section, p_user_id, p_ttl_seconds,
                                 p_max_held_seats, p_max_tickets);
    PERFORM catalog.label_hold(v_hold.hold_id, p_idempotency_key, p_request);
    RETURN QUERY SELECT v_hold.event_open, v_hold.unknown_field, v_hold.hold_id, v_hold.expires_at, v_hold.seat_ids,
                        v_hold.cap, v_hold.cap_limit, v_hold.seats_allowed, v_hold.seats_left,
                        v_hold.largest_block, NULL::text;
END
$$;
