-- Every order of an on-sale names the same event, and the foreign keys of an order's
-- insert and of each ticket's checked that event's row (FOR KEY SHARE). All those checks
-- locked one row: lockers at once share it through a MultiXact that each newcomer copies
-- and extends, and the check waits its turn while holding its instance's only database
-- connection. Seen in the orders benchmark with auto_explain, at ~1,000 orders/s: the
-- event row's check took up to 42 ms, 54 times in 3 s, and the order's insert over 30 ms
-- 191 times. The event is now reached through rows of the order's own: an order's (hold,
-- event) must be its hold's, a ticket's (order, event) its order's. Deleting an event
-- that has orders is still refused (its holds cascade, and orders refer to them).
ALTER TABLE catalog.holds ADD CONSTRAINT holds_id_event_id_key UNIQUE (id, event_id);
ALTER TABLE orders.orders ADD CONSTRAINT orders_id_event_id_key UNIQUE (id, event_id);
ALTER TABLE orders.orders
    DROP CONSTRAINT orders_event_id_fkey,
    DROP CONSTRAINT orders_hold_id_fkey,
    ADD CONSTRAINT orders_hold_id_event_id_fkey FOREIGN KEY (hold_id, event_id)
        REFERENCES catalog.holds (id, event_id);
ALTER TABLE orders.tickets
    DROP CONSTRAINT tickets_event_id_fkey,
    DROP CONSTRAINT tickets_order_id_fkey,
    ADD CONSTRAINT tickets_order_id_event_id_fkey FOREIGN KEY (order_id, event_id)
        REFERENCES orders.orders (id, event_id) ON DELETE CASCADE;

-- Settling sold seats by id alone: they were locked and found held by the order's hold a
-- statement before. The extra `status = 'held'` let the planner reach them through the
-- partial index of held seats, reading every held seat of the event (7,393 rows removed
-- by the filter for 95 sold, 43 ms of a settle). Same contract as migration 12 otherwise.
CREATE OR REPLACE FUNCTION orders.settle_orders(p_claim_id uuid, p_paid uuid[], p_declined uuid[], p_decline_reason text)
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
        WHERE s.id = ANY(ARRAY(SELECT i.seat_id FROM orders.order_items i WHERE i.order_id = ANY(v_sold)));
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
