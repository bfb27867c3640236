-- The order path reaches every row by a key (an order id, a hold id, a user's idempotency
-- key, a seat id), and so do the foreign-key checks its inserts fire. A connection keeps
-- the plans of those statements once made (generic plans, and the checks' own), and a plan
-- made while a table was nearly empty (a new deployment's first sales, or the benchmark
-- right after its cleanup) reads the table whole, and goes on doing so as it grows, until
-- autovacuum's next ANALYZE a minute or more later. Seen in a 10 s orders benchmark:
-- 60,745 sequential scans of orders.orders reading 148 million rows, about 7 per order.
-- Index scans are right for these statements at any size, so the functions ask for them.
ALTER FUNCTION catalog.hold_seats(bigint, bigint[], uuid, bigint) SET enable_seqscan = off;
ALTER FUNCTION orders.place_order(uuid, text, uuid, bigint) SET enable_seqscan = off;
ALTER FUNCTION orders.claim_orders(uuid, integer, uuid) SET enable_seqscan = off;
ALTER FUNCTION orders.cancel_order(uuid, uuid) SET enable_seqscan = off;

-- Settling also returns each order's seats. The worker joined the function's rows to
-- orders and holds itself, and for a function PostgreSQL guesses 1,000 rows, so that join
-- read both tables whole on every settle, whatever their size. Same contract as
-- migration 11 otherwise.
DROP FUNCTION orders.settle_orders(uuid, uuid[], uuid[], text);
CREATE FUNCTION orders.settle_orders(p_claim_id uuid, p_paid uuid[], p_declined uuid[], p_decline_reason text)
RETURNS TABLE (order_id uuid, user_id uuid, event_id bigint, status text, reason text, ticket_ids uuid[], seat_ids bigint[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_owned uuid[];
    v_seats bigint[];
    v_sold uuid[];
    v_failed uuid[];
    v_failed_holds uuid[];
BEGIN
    SELECT coalesce(array_agg(o.id ORDER BY o.id), '{}') INTO v_owned
    FROM (SELECT o.id FROM orders.orders o
          WHERE o.id = ANY(p_paid || p_declined) AND o.claim_id = p_claim_id AND o.status = 'PROCESSING'
          ORDER BY o.id
          FOR UPDATE) o;
    IF cardinality(v_owned) = 0 THEN
        RETURN;
    END IF;

    v_seats := ARRAY(SELECT i.seat_id FROM orders.order_items i WHERE i.order_id = ANY(v_owned) ORDER BY i.seat_id);
    PERFORM 1 FROM catalog.seats s WHERE s.id = ANY(v_seats) ORDER BY s.id FOR UPDATE;

    -- Paid, and every seat still held by the order's hold.
    v_sold := ARRAY(
        SELECT o.id FROM orders.orders o
        WHERE o.id = ANY(v_owned) AND o.id = ANY(p_paid)
          AND NOT EXISTS (SELECT 1 FROM orders.order_items i JOIN catalog.seats s ON s.id = i.seat_id
                          WHERE i.order_id = o.id AND NOT (s.hold_id = o.hold_id AND s.status = 'held')));
    v_failed := ARRAY(SELECT unnest(v_owned) EXCEPT SELECT unnest(v_sold));

    IF cardinality(v_failed) > 0 THEN
        v_failed_holds := ARRAY(SELECT o.hold_id FROM orders.orders o WHERE o.id = ANY(v_failed));
        -- The failed ones free their seats.
        UPDATE catalog.seats s SET status = 'available', hold_id = NULL, held_until = NULL
        WHERE s.hold_id = ANY(v_failed_holds) AND s.status = 'held';
        UPDATE catalog.holds h SET released_at = now()
        WHERE h.id = ANY(v_failed_holds) AND h.released_at IS NULL;
        UPDATE orders.orders o
        SET status = 'FAILED', claim_id = NULL,
            status_reason = CASE WHEN o.id = ANY(p_declined) THEN p_decline_reason ELSE 'seats no longer held' END
        WHERE o.id = ANY(v_failed);
    END IF;

    IF cardinality(v_sold) > 0 THEN
        -- The sold ones sell exactly their held seats and get a ticket per seat.
        UPDATE catalog.seats s SET status = 'sold', held_until = NULL
        WHERE s.id = ANY(ARRAY(SELECT i.seat_id FROM orders.order_items i WHERE i.order_id = ANY(v_sold)))
          AND s.status = 'held';
        INSERT INTO orders.tickets (order_id, event_id, seat_id)
        SELECT o.id, o.event_id, i.seat_id
        FROM orders.orders o JOIN orders.order_items i ON i.order_id = o.id
        WHERE o.id = ANY(v_sold)
        ORDER BY i.seat_id;
        UPDATE orders.orders o SET status = 'COMPLETED', status_reason = 'paid; tickets issued', claim_id = NULL
        WHERE o.id = ANY(v_sold);
    END IF;

    RETURN QUERY
    SELECT o.id, o.user_id, o.event_id, o.status, o.status_reason,
           coalesce((SELECT array_agg(t.id ORDER BY t.seat_id) FROM orders.tickets t
                     WHERE t.order_id = o.id AND o.status = 'COMPLETED'), '{}'),
           h.seat_ids
    FROM orders.orders o JOIN catalog.holds h ON h.id = o.hold_id
    WHERE o.id = ANY(v_owned)
    ORDER BY o.id;
END
$$;
