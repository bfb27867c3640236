-- A claim takes at most p_limit orders, whatever plan PostgreSQL picks. With the orders to
-- claim in `IN (SELECT ... LIMIT ... FOR UPDATE SKIP LOCKED)`, a plan that rescans the
-- subquery (a nested loop with it on the inner side) returns a fresh set of unlocked
-- orders on every rescan: under the orders benchmark one claim took 4,813 PENDING orders
-- and settling them ran for minutes, holding their locks. A materialised CTE runs once.
CREATE OR REPLACE FUNCTION orders.claim_orders(p_first uuid, p_limit integer, p_claim_id uuid)
RETURNS TABLE (order_id uuid, user_id uuid, total_cents bigint, currency text)
LANGUAGE sql AS $$
    WITH picked AS MATERIALIZED (
        SELECT c.id FROM orders.orders c
        WHERE c.status = 'PENDING'
        ORDER BY c.id = p_first DESC, c.created_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE orders.orders o
    SET status = 'PROCESSING', status_reason = 'claimed for payment',
        claim_id = p_claim_id, claimed_at = now(), attempts = o.attempts + 1
    FROM picked
    WHERE o.id = picked.id AND o.status = 'PENDING'
    RETURNING o.id, o.user_id, o.total_cents, o.currency;
$$;
