-- Orders, their audit trail and tickets. The order row is also the outbox: a PENDING
-- order whose message was lost is published again (see orders.orders_to_republish), and
-- the worker's conditional claim makes repeated or concurrent deliveries harmless.

CREATE TABLE orders.orders (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES catalog.events (id),
    hold_id         uuid NOT NULL UNIQUE REFERENCES catalog.holds (id),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    -- Why the order is in its status; the history trigger records it with each change.
    status_reason   text NOT NULL,
    total_cents     bigint NOT NULL CHECK (total_cents > 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- The worker run that owns a PROCESSING order: a run that lost its claim to recovery
    -- cannot settle the order any more.
    claim_id        uuid,
    claimed_at      timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    published_at    timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key),
    CHECK (status <> 'PROCESSING' OR (claim_id IS NOT NULL AND claimed_at IS NOT NULL))
);
CREATE INDEX orders_by_user ON orders.orders (user_id, created_at DESC);
CREATE INDEX orders_unfinished ON orders.orders (created_at)
    WHERE status IN ('PENDING', 'PROCESSING');

CREATE TABLE orders.order_items (
    order_id    uuid NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
    seat_id     bigint NOT NULL REFERENCES catalog.seats (id),
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    PRIMARY KEY (order_id, seat_id)
);

CREATE TABLE orders.order_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX order_history_by_order ON orders.order_history (order_id, id);

CREATE TABLE orders.tickets (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id  uuid NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
    event_id  bigint NOT NULL REFERENCES catalog.events (id),
    seat_id   bigint NOT NULL REFERENCES catalog.seats (id),
    status    text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'void', 'used')),
    issued_at timestamptz NOT NULL DEFAULT date_trunc('second', now()),
    UNIQUE (order_id, seat_id)
);
-- No seat is sold twice, whatever the code does: one ticket per seat that is not void.
CREATE UNIQUE INDEX tickets_one_live_per_seat ON orders.tickets (seat_id) WHERE status <> 'void';
CREATE INDEX tickets_by_order ON orders.tickets (order_id);

-- The lifecycle, enforced where every writer passes.
CREATE FUNCTION orders.check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (OLD.status, NEW.status) IN (
        ('PENDING', 'PROCESSING'), ('PENDING', 'CANCELLED'),
        ('PROCESSING', 'COMPLETED'), ('PROCESSING', 'FAILED'), ('PROCESSING', 'PENDING'),
        ('COMPLETED', 'CANCELLED')
    ) THEN
        RAISE EXCEPTION 'order % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_check_transition BEFORE UPDATE OF status ON orders.orders
    FOR EACH ROW EXECUTE FUNCTION orders.check_transition();

CREATE FUNCTION orders.record_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO orders.order_history (order_id, from_status, to_status, reason)
        VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status, NEW.status_reason);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_record_status AFTER INSERT OR UPDATE OF status ON orders.orders
    FOR EACH ROW EXECUTE FUNCTION orders.record_status();

-- Frees the seats an order's hold still holds and ends the hold.
CREATE FUNCTION orders.release_hold(p_hold_id uuid) RETURNS void
LANGUAGE sql AS $$
    UPDATE catalog.seats SET status = 'available', hold_id = NULL, held_until = NULL
    WHERE hold_id = p_hold_id AND status = 'held';
    UPDATE catalog.holds SET released_at = now() WHERE id = p_hold_id AND released_at IS NULL;
$$;

-- Places the caller's order for their hold, or finds the one the same key placed.
-- Outcomes: created, existing, key_reused (the key placed an order for another hold),
-- hold_ordered (another key ordered this hold), hold_not_found, hold_ended, event_closed.
-- Attempts for one hold queue on the hold's row, so one of them creates the order and
-- the others find it.
CREATE FUNCTION orders.place_order(
    p_user_id uuid,
    p_key text,
    p_hold_id uuid,
    p_keep_seconds bigint
) RETURNS TABLE (outcome text, order_id uuid, status text)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_order orders.orders%ROWTYPE;
    v_hold catalog.holds%ROWTYPE;
    v_held integer;
    v_total bigint;
    v_currency text;
BEGIN
    SELECT * INTO v_order FROM orders.orders o WHERE o.user_id = p_user_id AND o.idempotency_key = p_key;
    IF FOUND THEN
        RETURN QUERY SELECT CASE WHEN v_order.hold_id = p_hold_id THEN 'existing' ELSE 'key_reused' END,
                            v_order.id, v_order.status;
        RETURN;
    END IF;

    SELECT * INTO v_hold FROM catalog.holds h WHERE h.id = p_hold_id AND h.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'hold_not_found', NULL::uuid, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO v_order FROM orders.orders o WHERE o.hold_id = p_hold_id;
    IF FOUND THEN
        RETURN QUERY SELECT CASE WHEN v_order.idempotency_key = p_key THEN 'existing' ELSE 'hold_ordered' END,
                            v_order.id, v_order.status;
        RETURN;
    END IF;

    -- The hold must be live and its seats still its own.
    PERFORM 1 FROM catalog.seats s WHERE s.id = ANY(v_hold.seat_ids) ORDER BY s.id FOR UPDATE;
    SELECT count(*), sum(t.price_cents) INTO v_held, v_total
    FROM catalog.seats s JOIN catalog.price_tiers t ON t.id = s.tier_id
    WHERE s.id = ANY(v_hold.seat_ids) AND s.hold_id = p_hold_id AND s.status = 'held' AND s.held_until > now();
    IF v_hold.released_at IS NOT NULL OR v_hold.expires_at <= now() OR v_held <> cardinality(v_hold.seat_ids) THEN
        RETURN QUERY SELECT 'hold_ended', NULL::uuid, NULL::text;
        RETURN;
    END IF;
    SELECT e.currency INTO v_currency FROM catalog.events e
    WHERE e.id = v_hold.event_id AND e.status = 'published' AND e.starts_at > now();
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'event_closed', NULL::uuid, NULL::text;
        RETURN;
    END IF;

    BEGIN
        INSERT INTO orders.orders (user_id, event_id, hold_id, idempotency_key, status_reason, total_cents, currency)
        VALUES (p_user_id, v_hold.event_id, p_hold_id, p_key, 'order placed', v_total, v_currency)
        RETURNING * INTO v_order;
    EXCEPTION WHEN unique_violation THEN
        -- The same key, at the same moment, for another hold.
        RETURN QUERY SELECT 'key_reused', NULL::uuid, NULL::text;
        RETURN;
    END;
    INSERT INTO orders.order_items (order_id, seat_id, price_cents)
    SELECT v_order.id, s.id, t.price_cents
    FROM catalog.seats s JOIN catalog.price_tiers t ON t.id = s.tier_id
    WHERE s.id = ANY(v_hold.seat_ids);
    -- The order keeps its seats while it is processed, even past the hold's own expiry.
    UPDATE catalog.holds h SET expires_at = greatest(h.expires_at, now() + make_interval(secs => p_keep_seconds))
    WHERE h.id = p_hold_id;
    UPDATE catalog.seats s SET held_until = greatest(s.held_until, now() + make_interval(secs => p_keep_seconds))
    WHERE s.hold_id = p_hold_id AND s.status = 'held';
    RETURN QUERY SELECT 'created', v_order.id, v_order.status;
END
$$;

-- Claims up to p_limit PENDING orders for one worker run, the named one first. Orders
-- another run is claiming are skipped, so concurrent runs share the work.
CREATE FUNCTION orders.claim_orders(p_first uuid, p_limit integer, p_claim_id uuid)
RETURNS TABLE (order_id uuid, user_id uuid, total_cents bigint, currency text)
LANGUAGE sql AS $$
    UPDATE orders.orders o
    SET status = 'PROCESSING', status_reason = 'claimed for payment',
        claim_id = p_claim_id, claimed_at = now(), attempts = o.attempts + 1
    WHERE o.status = 'PENDING' AND o.id IN (
        SELECT c.id FROM orders.orders c
        WHERE c.status = 'PENDING'
        ORDER BY c.id = p_first DESC, c.created_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING o.id, o.user_id, o.total_cents, o.currency;
$$;

-- Settles the orders a worker run claimed: paid ones sell exactly their held seats and
-- get one ticket per seat; declined ones, and paid ones whose seats are no longer held by
-- their hold, fail and free their seats. Orders the run no longer owns are left alone.
CREATE FUNCTION orders.settle_orders(p_claim_id uuid, p_paid uuid[], p_declined uuid[], p_decline_reason text)
RETURNS TABLE (order_id uuid, user_id uuid, event_id bigint, status text, reason text, ticket_ids uuid[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v orders.orders%ROWTYPE;
    v_items integer;
    v_still_held integer;
    v_tickets uuid[];
BEGIN
    FOR v IN
        SELECT * FROM orders.orders o
        WHERE o.id = ANY(p_paid || p_declined) AND o.claim_id = p_claim_id AND o.status = 'PROCESSING'
        ORDER BY o.id
        FOR UPDATE
    LOOP
        IF v.id = ANY(p_declined) THEN
            PERFORM orders.release_hold(v.hold_id);
            UPDATE orders.orders o SET status = 'FAILED', status_reason = p_decline_reason, claim_id = NULL
            WHERE o.id = v.id;
            RETURN QUERY SELECT v.id, v.user_id, v.event_id, 'FAILED'::text, p_decline_reason, '{}'::uuid[];
            CONTINUE;
        END IF;

        PERFORM 1 FROM catalog.seats s JOIN orders.order_items i ON i.seat_id = s.id
        WHERE i.order_id = v.id ORDER BY s.id FOR UPDATE OF s;
        SELECT count(*), count(*) FILTER (WHERE s.hold_id = v.hold_id AND s.status = 'held')
        INTO v_items, v_still_held
        FROM orders.order_items i JOIN catalog.seats s ON s.id = i.seat_id
        WHERE i.order_id = v.id;
        IF v_still_held <> v_items THEN
            PERFORM orders.release_hold(v.hold_id);
            UPDATE orders.orders o SET status = 'FAILED', status_reason = 'seats no longer held', claim_id = NULL
            WHERE o.id = v.id;
            RETURN QUERY SELECT v.id, v.user_id, v.event_id, 'FAILED'::text, 'seats no longer held'::text, '{}'::uuid[];
            CONTINUE;
        END IF;

        UPDATE catalog.seats s SET status = 'sold', held_until = NULL
        FROM orders.order_items i
        WHERE i.order_id = v.id AND s.id = i.seat_id AND s.hold_id = v.hold_id AND s.status = 'held';
        WITH issued AS (
            INSERT INTO orders.tickets (order_id, event_id, seat_id)
            SELECT v.id, v.event_id, i.seat_id FROM orders.order_items i WHERE i.order_id = v.id
            RETURNING id, seat_id
        )
        SELECT array_agg(id ORDER BY seat_id) INTO v_tickets FROM issued;
        UPDATE orders.orders o SET status = 'COMPLETED', status_reason = 'paid; tickets issued', claim_id = NULL
        WHERE o.id = v.id;
        RETURN QUERY SELECT v.id, v.user_id, v.event_id, 'COMPLETED'::text, 'paid; tickets issued'::text, v_tickets;
    END LOOP;
END
$$;

-- The owner cancels a PENDING or COMPLETED order before its event starts: tickets become
-- void and seats available again. Outcomes: cancelled, not_found, not_cancellable,
-- event_started, ticket_used.
CREATE FUNCTION orders.cancel_order(p_user_id uuid, p_order_id uuid)
RETURNS TABLE (outcome text, status text, event_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v orders.orders%ROWTYPE;
BEGIN
    SELECT * INTO v FROM orders.orders o WHERE o.id = p_order_id AND o.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::bigint;
        RETURN;
    END IF;
    IF v.status NOT IN ('PENDING', 'COMPLETED') THEN
        RETURN QUERY SELECT 'not_cancellable', v.status, v.event_id;
        RETURN;
    END IF;
    PERFORM 1 FROM catalog.events e WHERE e.id = v.event_id AND e.starts_at > now();
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'event_started', v.status, v.event_id;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM orders.tickets t WHERE t.order_id = v.id AND t.status = 'used') THEN
        RETURN QUERY SELECT 'ticket_used', v.status, v.event_id;
        RETURN;
    END IF;

    UPDATE orders.tickets t SET status = 'void' WHERE t.order_id = v.id AND t.status = 'valid';
    UPDATE catalog.seats s SET status = 'available', hold_id = NULL, held_until = NULL
    FROM orders.order_items i
    WHERE i.order_id = v.id AND s.id = i.seat_id AND s.hold_id = v.hold_id AND s.status IN ('held', 'sold');
    UPDATE catalog.holds h SET released_at = now() WHERE h.id = v.hold_id AND h.released_at IS NULL;
    UPDATE orders.orders o SET status = 'CANCELLED', status_reason = 'cancelled by the buyer' WHERE o.id = v.id;
    RETURN QUERY SELECT 'cancelled', 'CANCELLED'::text, v.event_id;
END
$$;

-- The outbox sweep: PROCESSING orders whose worker run vanished go back to PENDING, and
-- PENDING orders not claimed since they were last published are returned to be
-- published again (their published_at moves to now).
CREATE FUNCTION orders.orders_to_republish(p_pending_seconds bigint, p_processing_seconds bigint)
RETURNS TABLE (order_id uuid)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders.orders o
    SET status = 'PENDING', status_reason = 'recovered: the worker did not finish in time',
        claim_id = NULL, claimed_at = NULL, published_at = now() - make_interval(secs => p_pending_seconds)
    WHERE o.status = 'PROCESSING' AND o.claimed_at < now() - make_interval(secs => p_processing_seconds);
    RETURN QUERY
    UPDATE orders.orders o SET published_at = now()
    WHERE o.status = 'PENDING' AND o.published_at <= now() - make_interval(secs => p_pending_seconds)
    RETURNING o.id;
END
$$;
