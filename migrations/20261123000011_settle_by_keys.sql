-- Settling reaches seats through their keys only. The set-wise statements of migration 8
-- joined seats to orders on `hold_id` with the batch's ids in arrays; under a generic
-- plan PostgreSQL could drive those joins from every held seat of the catalog, probing
-- the batch for each, and one settle of 200 orders ran for over 20 s of CPU while the
-- Redis trigger (one message at a time) waited behind it. Now the seat ids come from the
-- batch's order items first, and the failure path runs only when something failed.
-- Same contract as migration 8.
CREATE OR REPLACE FUNCTION orders.settle_orders(p_claim_id uuid, p_paid uuid[], p_declined uuid[], p_decline_reason text)
RETURNS TABLE (order_id uuid, user_id uuid, event_id bigint, status text, reason text, ticket_ids uuid[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
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
                     WHERE t.order_id = o.id AND o.status = 'COMPLETED'), '{}')
    FROM orders.orders o
    WHERE o.id = ANY(v_owned)
    ORDER BY o.id;
END
$$;
