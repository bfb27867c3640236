-- A hold commits without waiting for its WAL record to reach the disk. Under load every
-- hold waited for a WAL flush, and a slow flush stopped them all at once: seen in the holds
-- benchmark, 44 to 54 backends queued on WALWrite behind one WALSync for up to a second.
--
-- What this risks is narrow. A crash of PostgreSQL itself (not of Spin or of a host) may
-- lose the holds of the last moments before it, up to three times wal_writer_delay: their
-- seats come back free, and an order on such a hold fails as for any hold that is gone.
-- Nothing sold depends on a lost hold: WAL is written in order, so an order's synchronous
-- commit also makes durable every hold committed before it. Orders keep synchronous
-- commits.
--
-- The setting is transaction-local and set inside the call, so it ends with the hold's
-- transaction and never touches the caller's session. The function's body is unchanged
-- under its new name; hold_seats keeps its signature for every caller.
ALTER FUNCTION catalog.hold_seats(bigint, bigint[], uuid, bigint) RENAME TO take_seats;

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
    PERFORM set_config('synchronous_commit', 'off', true);
    RETURN QUERY SELECT * FROM catalog.take_seats(p_event_id, p_seat_ids, p_user_id, p_ttl_seconds);
END
$$;
