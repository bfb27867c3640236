-- Per-account caps on an event's inventory, so that no account (a bot's, say) can take an
-- event's seats: how many seats an account may hold at once (holds not yet ordered), and
-- how many it may have at all (held, in a pending or processing order, or sold). An
-- event may set its own ticket cap (0: no per-account cap of either kind on that event);
-- otherwise the deployment's apply, where 0 means no cap.
--
-- Enforced in the hold's own transaction: holds of one account on one event queue on a
-- transaction-level advisory lock, so each one counts after the previous one committed,
-- and 64 concurrent holds of one account cannot pass the cap together.
ALTER TABLE catalog.events
    ADD COLUMN max_tickets_per_account integer CHECK (max_tickets_per_account >= 0);

CREATE INDEX holds_by_user_and_event ON catalog.holds (user_id, event_id);

-- The seats an account has on an event: `held` in live holds that have no order yet, and
-- `total` adding those of its orders that are pending, processing or completed.
CREATE FUNCTION catalog.account_seats(p_user_id uuid, p_event_id bigint)
RETURNS TABLE (held bigint, total bigint)
LANGUAGE sql STABLE
SET enable_seqscan = off
AS $$
    SELECT coalesce(sum(cardinality(h.seat_ids)) FILTER (WHERE o.id IS NULL), 0)::int8,
           coalesce(sum(cardinality(h.seat_ids)), 0)::int8
    FROM catalog.holds h
    LEFT JOIN orders.orders o ON o.hold_id = h.id
    WHERE h.user_id = p_user_id AND h.event_id = p_event_id
      AND CASE WHEN o.id IS NULL THEN h.released_at IS NULL AND h.expires_at > now()
               ELSE o.status IN ('PENDING', 'PROCESSING', 'COMPLETED') END;
$$;

-- The hold, now with the caps. Outcomes as before, plus `cap` (which cap refused the hold:
-- 'held_seats' or 'tickets', else NULL), `cap_limit` and `seats_allowed` (how many more
-- seats the account may hold on this event now).
DROP FUNCTION catalog.hold_seats(bigint, bigint[], uuid, bigint);
CREATE FUNCTION catalog.hold_seats(
    p_event_id bigint,
    p_seat_ids bigint[],
    p_user_id uuid,
    p_ttl_seconds bigint,
    p_max_held_seats bigint,
    p_max_tickets bigint
) RETURNS TABLE (
    event_open boolean,
    hold_id text,
    expires_at text,
    unavailable bigint[],
    unknown bigint[],
    cap text,
    cap_limit bigint,
    seats_allowed bigint
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_event_cap bigint;
    v_ticket_cap bigint;
    v_held bigint;
    v_total bigint;
    v_allowed bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    -- An event that is not on sale is left to take_seats, which says so. An event whose
    -- own cap is 0 has no per-account caps at all.
    SELECT e.max_tickets_per_account INTO v_event_cap
    FROM catalog.events e
    WHERE e.id = p_event_id AND e.status = 'published' AND e.starts_at > now();
    v_ticket_cap := coalesce(v_event_cap, p_max_tickets);
    IF FOUND AND v_event_cap IS DISTINCT FROM 0 AND (p_max_held_seats > 0 OR v_ticket_cap > 0) THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id::text, p_event_id));
        SELECT a.held, a.total INTO v_held, v_total FROM catalog.account_seats(p_user_id, p_event_id) a;
        v_allowed := NULL;
        IF p_max_held_seats > 0 THEN
            v_allowed := greatest(p_max_held_seats - v_held, 0);
        END IF;
        IF v_ticket_cap > 0 THEN
            v_allowed := least(coalesce(v_allowed, v_ticket_cap), greatest(v_ticket_cap - v_total, 0));
        END IF;
        IF v_ticket_cap > 0 AND v_total + cardinality(p_seat_ids) > v_ticket_cap THEN
            RETURN QUERY SELECT true, NULL::text, NULL::text, '{}'::bigint[], '{}'::bigint[],
                                'tickets'::text, v_ticket_cap, v_allowed;
            RETURN;
        END IF;
        IF p_max_held_seats > 0 AND v_held + cardinality(p_seat_ids) > p_max_held_seats THEN
            RETURN QUERY SELECT true, NULL::text, NULL::text, '{}'::bigint[], '{}'::bigint[],
                                'held_seats'::text, p_max_held_seats, v_allowed;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT t.*, NULL::text, NULL::bigint, NULL::bigint
    FROM catalog.take_seats(p_event_id, p_seat_ids, p_user_id, p_ttl_seconds) t;
END
$$;
