-- A worker run that dies between claiming orders and settling them (its `spin` killed)
-- left them PROCESSING until the outbox sweep took them back after 30 s. In a rush
-- through a crash (10,000 buyers, both spins killed mid-sale) that held a batch claimed
-- just before the kill: accept -> COMPLETED p50 46.5 s in that run. The 30 s must stay
-- for a run that is alive but slow (taking its orders back would charge them twice),
-- but a run whose database session is gone can settle nothing: its claim now records
-- that session (backend pid and start time), and the sweep takes back such a claim's
-- orders after a short grace, as soon as the session has ended.
ALTER TABLE orders.orders
    ADD COLUMN claimed_by_pid integer,
    ADD COLUMN claimed_by_backend_start timestamptz;

CREATE OR REPLACE FUNCTION orders.claim_orders(p_first uuid, p_limit integer, p_claim_id uuid)
RETURNS TABLE (order_id uuid, user_id uuid, total_cents bigint, currency text)
LANGUAGE sql AS $$
    WITH picked AS MATERIALIZED (
        SELECT c.id FROM orders.orders c
        WHERE c.status = 'PENDING'
        ORDER BY c.id = p_first DESC, c.created_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), session AS (
        SELECT a.pid, a.backend_start FROM pg_stat_get_activity(pg_backend_pid()) a
    )
    UPDATE orders.orders o
    SET status = 'PROCESSING', status_reason = 'claimed for payment',
        claim_id = p_claim_id, claimed_at = now(), attempts = o.attempts + 1,
        claimed_by_pid = (SELECT s.pid FROM session s),
        claimed_by_backend_start = (SELECT s.backend_start FROM session s)
    FROM picked
    WHERE o.id = picked.id AND o.status = 'PENDING'
    RETURNING o.id, o.user_id, o.total_cents, o.currency;
$$;

-- PROCESSING orders go back to PENDING when their claim is p_processing_seconds old, or
-- p_orphaned_seconds old with the claiming session gone. A session whose start time this
-- role may not read (another role's) counts as alive: only the long bound applies then.
CREATE FUNCTION orders.orders_to_republish(
    p_pending_seconds bigint,
    p_processing_seconds bigint,
    p_orphaned_seconds bigint
) RETURNS TABLE (order_id uuid)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders.orders o
    SET status = 'PENDING', status_reason = 'recovered: the worker did not finish in time',
        claim_id = NULL, claimed_at = NULL, claimed_by_pid = NULL, claimed_by_backend_start = NULL,
        published_at = now() - make_interval(secs => p_pending_seconds)
    WHERE o.status = 'PROCESSING'
      AND (o.claimed_at < now() - make_interval(secs => p_processing_seconds)
           OR (o.claimed_at < now() - make_interval(secs => p_orphaned_seconds)
               AND o.claimed_by_pid IS NOT NULL
               AND NOT EXISTS (
                   SELECT 1 FROM pg_stat_activity a
                   WHERE a.pid = o.claimed_by_pid
                     AND (a.backend_start = o.claimed_by_backend_start OR a.backend_start IS NULL))));
    RETURN QUERY
    UPDATE orders.orders o SET published_at = now()
    WHERE o.status = 'PENDING' AND o.published_at <= now() - make_interval(secs => p_pending_seconds)
    RETURNING o.id;
END
$$;

-- The sweep of binaries from before this migration, during a rolling upgrade: as before.
CREATE OR REPLACE FUNCTION orders.orders_to_republish(p_pending_seconds bigint, p_processing_seconds bigint)
RETURNS TABLE (order_id uuid)
LANGUAGE sql AS $$
    SELECT r.order_id FROM orders.orders_to_republish(p_pending_seconds, p_processing_seconds, p_processing_seconds) r;
$$;
