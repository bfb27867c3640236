-- The hold statement as a PL/pgSQL function: callers send one short statement, and
-- PostgreSQL keeps the plan of the big one per connection instead of parsing and
-- planning it on every hold (Spin's outbound PostgreSQL prepares each statement anew).
--
-- It locks the requested seats of a bookable event in id order (concurrent holds cannot
-- deadlock), re-checks each one after any concurrent holder committed, and only then
-- inserts the hold and marks the seats: all of them or none.
CREATE FUNCTION catalog.hold_seats(
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
        WHERE e.id = p_event_id AND e.status = 'published' AND e.starts_at > now()
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
