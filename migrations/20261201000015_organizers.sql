-- Organizers own the events they create, sell them within a sales window, name the gate
-- staff who may admit their ticket holders, and everything they do is audited.

-- Seed events have no organizer (the operator's); an organizer's events name theirs.
-- No sales window means on sale from publication until the event starts.
ALTER TABLE catalog.events
    ADD COLUMN organizer_id uuid REFERENCES auth.users (id),
    ADD COLUMN sales_start  timestamptz,
    ADD COLUMN sales_end    timestamptz,
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT events_sales_window CHECK (sales_end IS NULL OR sales_start IS NULL OR sales_end > sales_start),
    ADD CONSTRAINT events_sales_end_before_start CHECK (sales_end IS NULL OR sales_end <= starts_at);
CREATE INDEX events_by_organizer ON catalog.events (organizer_id, created_at DESC) WHERE organizer_id IS NOT NULL;

-- Whether an event sells now: published, not started, inside its sales window.
CREATE FUNCTION catalog.on_sale(e catalog.events) RETURNS boolean
LANGUAGE sql STABLE
RETURN e.status = 'published' AND e.starts_at > now()
       AND (e.sales_start IS NULL OR e.sales_start <= now())
       AND (e.sales_end IS NULL OR e.sales_end > now());

-- Gate staff: accounts an organizer named for one event; they may scan there only.
CREATE TABLE catalog.gate_staff (
    event_id bigint NOT NULL REFERENCES catalog.events (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    added_by uuid NOT NULL REFERENCES auth.users (id),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX gate_staff_by_user ON catalog.gate_staff (user_id);

-- Who did what, when: every change an organizer makes, and every role an operator grants.
CREATE TABLE catalog.audit_log (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id uuid REFERENCES auth.users (id),
    actor    text NOT NULL CHECK (length(actor) BETWEEN 1 AND 254),
    action   text NOT NULL CHECK (action ~ '^[a-z_.]+$'),
    event_id bigint REFERENCES catalog.events (id) ON DELETE SET NULL,
    detail   jsonb NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_log_by_event ON catalog.audit_log (event_id, id) WHERE event_id IS NOT NULL;
CREATE INDEX audit_log_by_actor ON catalog.audit_log (actor_id, id);

-- Holds sell only inside the sales window: the same seat-taking function, with the
-- event's test widened from "published and not started" to catalog.on_sale.
CREATE OR REPLACE FUNCTION catalog.take_seats(
    p_event_id bigint,
    p_seat_ids bigint[],
    p_user_id uuid,
    p_ttl_seconds bigint
) RETURNS TABLE (
    event_open boolean,
    hold_id text,
    expires_at text,
    unavailable bigint[],
    unknown bigint[]
)
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY
    WITH event AS (
        SELECT e.id FROM catalog.events e
        WHERE e.id = p_event_id AND catalog.on_sale(e)
    ), locked AS (
        SELECT s.id, (s.status = 'available' OR (s.status = 'held' AND s.held_until <= now())) AS free
        FROM catalog.seats s JOIN event ON s.event_id = event.id
        WHERE s.id = ANY(p_seat_ids)
        ORDER BY s.id
        FOR UPDATE OF s
    ), verdict AS (
        SELECT count(*) = cardinality(p_seat_ids) AND coalesce(bool_and(l.free), false) AS all_free
        FROM locked l
    ), new_hold AS (
        INSERT INTO catalog.holds (event_id, user_id, seat_ids, expires_at)
        SELECT p_event_id, p_user_id, p_seat_ids, now() + make_interval(secs => p_ttl_seconds)
        FROM verdict WHERE all_free
        RETURNING catalog.holds.id, catalog.holds.expires_at
    ), taken AS (
        UPDATE catalog.seats s
        SET status = 'held', hold_id = h.id, held_until = h.expires_at
        FROM new_hold h
        WHERE s.id = ANY(p_seat_ids)
        RETURNING s.id
    )
    SELECT EXISTS (SELECT 1 FROM event),
           (SELECT h.id::text FROM new_hold h),
           (SELECT iso_utc(h.expires_at) FROM new_hold h),
           ARRAY(SELECT l.id FROM locked l WHERE NOT l.free ORDER BY l.id),
           ARRAY(SELECT x FROM unnest(p_seat_ids) x WHERE x NOT IN (SELECT l.id FROM locked l) ORDER BY x);
END
$$;

-- Cancels one order that the caller has locked: tickets void, its seats available again,
-- its hold ended. The buyer's cancellation and the organizer's cancellation of a whole
-- event both end an order here.
CREATE FUNCTION orders.void_order(p_order_id uuid, p_reason text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE orders.tickets t SET status = 'void' WHERE t.order_id = p_order_id AND t.status = 'valid';
    UPDATE catalog.seats s SET status = 'available', hold_id = NULL, held_until = NULL
    FROM orders.order_items i, orders.orders o
    WHERE i.order_id = p_order_id AND o.id = p_order_id AND s.id = i.seat_id
      AND s.hold_id = o.hold_id AND s.status IN ('held', 'sold');
    UPDATE catalog.holds h SET released_at = now()
    FROM orders.orders o WHERE o.id = p_order_id AND h.id = o.hold_id AND h.released_at IS NULL;
    UPDATE orders.orders o SET status = 'CANCELLED', status_reason = p_reason WHERE o.id = p_order_id;
$$;

CREATE OR REPLACE FUNCTION orders.cancel_order(p_user_id uuid, p_order_id uuid)
RETURNS TABLE (outcome text, status text, event_id bigint)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
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
    PERFORM orders.void_order(v.id, 'cancelled by the buyer');
    RETURN QUERY SELECT 'cancelled', 'CANCELLED'::text, v.event_id;
END
$$;

-- The organizer cancels their event: it leaves sale at once, every live order is
-- cancelled (refunded) as a buyer's cancellation would be, open holds end, and orders
-- being paid for right now lose their seats, so the worker fails them. Returns each
-- cancelled or failed-to-be order with its buyer, for the notifications.
-- Outcomes: cancelled (one row per affected order, or one row with NULL order_id),
-- not_found, already_cancelled, event_started.
CREATE FUNCTION catalog.cancel_event(p_event_id bigint, p_organizer_id uuid)
RETURNS TABLE (outcome text, order_id uuid, user_id uuid, was text)
LANGUAGE plpgsql AS $$
DECLARE
    v_event catalog.events%ROWTYPE;
BEGIN
    SELECT * INTO v_event FROM catalog.events e
    WHERE e.id = p_event_id AND e.organizer_id = p_organizer_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    IF v_event.status = 'cancelled' THEN
        RETURN QUERY SELECT 'already_cancelled', NULL::uuid, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    IF v_event.starts_at <= now() THEN
        RETURN QUERY SELECT 'event_started', NULL::uuid, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    UPDATE catalog.events e SET status = 'cancelled', updated_at = now() WHERE e.id = p_event_id;

    CREATE TEMP TABLE IF NOT EXISTS cancelled_orders (order_id uuid, user_id uuid, was text) ON COMMIT DROP;
    TRUNCATE cancelled_orders;
    INSERT INTO cancelled_orders
    SELECT o.id, o.user_id, o.status FROM orders.orders o
    WHERE o.event_id = p_event_id AND o.status IN ('PENDING', 'PROCESSING', 'COMPLETED')
    ORDER BY o.id
    FOR UPDATE;
    PERFORM orders.void_order(c.order_id, 'cancelled by the organizer: the event is cancelled')
    FROM cancelled_orders c WHERE c.was IN ('PENDING', 'COMPLETED');
    -- Orders being paid for: their seats go, so settling fails them instead of selling.
    UPDATE catalog.seats s SET status = 'available', hold_id = NULL, held_until = NULL
    WHERE s.event_id = p_event_id AND s.status = 'held';
    UPDATE catalog.holds h SET released_at = now()
    WHERE h.event_id = p_event_id AND h.released_at IS NULL AND h.expires_at > now();

    IF NOT EXISTS (SELECT 1 FROM cancelled_orders) THEN
        RETURN QUERY SELECT 'cancelled', NULL::uuid, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'cancelled', c.order_id, c.user_id, c.was FROM cancelled_orders c;
END
$$;

-- The organizer's sales figures and the event's cancellation read an event's orders.
CREATE INDEX orders_by_event ON orders.orders (event_id, created_at);

-- Writes an event, its tiers and its seats (numbered 1..n per row) from a draft the
-- organizer service has already validated, and audits it, in one transaction.
-- p_draft: {slug, title, category, description, venue, city, starts_at, ends_at,
-- sales_start, sales_end, max_tickets_per_account, tiers: [{name, price_cents}],
-- sections: [{name, rows: [{name, seats, tier}]}]}.
CREATE FUNCTION catalog.create_event(p_organizer_id uuid, p_draft jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_seats bigint;
BEGIN
    INSERT INTO catalog.events (slug, title, category, description, venue, city, starts_at, ends_at,
                                status, organizer_id, sales_start, sales_end, max_tickets_per_account)
    VALUES (p_draft->>'slug', p_draft->>'title', p_draft->>'category', p_draft->>'description',
            p_draft->>'venue', p_draft->>'city', (p_draft->>'starts_at')::timestamptz,
            (p_draft->>'ends_at')::timestamptz, 'draft', p_organizer_id,
            (p_draft->>'sales_start')::timestamptz, (p_draft->>'sales_end')::timestamptz,
            (p_draft->>'max_tickets_per_account')::integer)
    RETURNING id INTO v_id;
    INSERT INTO catalog.price_tiers (event_id, name, price_cents)
    SELECT v_id, t->>'name', (t->>'price_cents')::bigint
    FROM jsonb_array_elements(p_draft->'tiers') WITH ORDINALITY AS tiers(t, i)
    ORDER BY i;
    INSERT INTO catalog.seats (event_id, tier_id, section, row_label, number)
    SELECT v_id, pt.id, s->>'name', r->>'name', n
    FROM jsonb_array_elements(p_draft->'sections') WITH ORDINALITY AS sections(s, si)
    CROSS JOIN LATERAL jsonb_array_elements(s->'rows') WITH ORDINALITY AS rows(r, ri)
    CROSS JOIN LATERAL generate_series(1, (r->>'seats')::integer) AS n
    JOIN catalog.price_tiers pt ON pt.event_id = v_id AND pt.name = r->>'tier'
    ORDER BY si, ri, n;
    GET DIAGNOSTICS v_seats = ROW_COUNT;
    INSERT INTO catalog.audit_log (actor_id, actor, action, event_id, detail)
    SELECT p_organizer_id, u.email, 'event.create', v_id,
           jsonb_build_object('title', p_draft->>'title', 'seats', v_seats)
    FROM auth.users u WHERE u.id = p_organizer_id;
    RETURN v_id;
END
$$;
