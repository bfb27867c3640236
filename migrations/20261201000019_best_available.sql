-- Best-available holds: the buyer names how many seats (and, optionally, a tier and a
-- section) and the server picks them, adjacent in one row, and holds them under the very
-- rules of a chosen-seat hold.

-- The per-account caps of migration 14, taken out of hold_seats so that a best-available
-- hold applies them too, and applies them first: the account's advisory lock comes before
-- any seat lock on both paths, so a chosen-seat hold and a best-available hold of one
-- account cannot deadlock. Returns one row (which cap, its limit, how many more seats the
-- account may hold on this event now) when `p_seats` more seats would pass a cap, none
-- otherwise.
CREATE FUNCTION catalog.account_cap_refusal(
    p_event_id bigint,
    p_user_id uuid,
    p_seats bigint,
    p_max_held_seats bigint,
    p_max_tickets bigint
) RETURNS TABLE (cap text, cap_limit bigint, seats_allowed bigint)
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
    -- An event that is not on sale is left to take_seats, which says so. An event whose
    -- own cap is 0 has no per-account caps at all.
    SELECT e.max_tickets_per_account INTO v_event_cap
    FROM catalog.events e
    WHERE e.id = p_event_id AND e.status = 'published' AND e.starts_at > now();
    v_ticket_cap := coalesce(v_event_cap, p_max_tickets);
    IF NOT FOUND OR v_event_cap = 0 OR (p_max_held_seats <= 0 AND v_ticket_cap <= 0) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id::text, p_event_id));
    SELECT a.held, a.total INTO v_held, v_total FROM catalog.account_seats(p_user_id, p_event_id) a;
    IF p_max_held_seats > 0 THEN
        v_allowed := greatest(p_max_held_seats - v_held, 0);
    END IF;
    IF v_ticket_cap > 0 THEN
        v_allowed := least(coalesce(v_allowed, v_ticket_cap), greatest(v_ticket_cap - v_total, 0));
    END IF;
    IF v_ticket_cap > 0 AND v_total + p_seats > v_ticket_cap THEN
        RETURN QUERY SELECT 'tickets'::text, v_ticket_cap, v_allowed;
    ELSIF p_max_held_seats > 0 AND v_held + p_seats > p_max_held_seats THEN
        RETURN QUERY SELECT 'held_seats'::text, p_max_held_seats, v_allowed;
    END IF;
END
$$;

-- The chosen-seat hold: same signature and outcomes as migration 14, its caps now read
-- through account_cap_refusal.
CREATE OR REPLACE FUNCTION catalog.hold_seats(
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
    v_refusal record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO v_refusal
    FROM catalog.account_cap_refusal(p_event_id, p_user_id, cardinality(p_seat_ids), p_max_held_seats, p_max_tickets);
    IF FOUND THEN
        RETURN QUERY SELECT true, NULL::text, NULL::text, '{}'::bigint[], '{}'::bigint[],
                            v_refusal.cap, v_refusal.cap_limit, v_refusal.seats_allowed;
        RETURN;
    END IF;
    RETURN QUERY SELECT t.*, NULL::text, NULL::bigint, NULL::bigint
    FROM catalog.take_seats(p_event_id, p_seat_ids, p_user_id, p_ttl_seconds) t;
END
$$;

-- Whether a seat may be taken: available, or held by a hold that has expired.
CREATE FUNCTION catalog.is_free(s catalog.seats) RETURNS boolean
LANGUAGE sql STABLE
RETURN s.status = 'available' OR (s.status = 'held' AND s.held_until <= now());

-- The rows of an event, optionally only those of one tier and one section, with what ranks
-- them (see seat_blocks) and how many free seats each has. Cheap: one aggregate over the
-- event's seats, where ranking its blocks takes a pass over each seat.
CREATE FUNCTION catalog.seat_rows(p_event_id bigint, p_tier_id bigint, p_section text)
RETURNS TABLE (
    row_id bigint,
    section text,
    row_label text,
    tier_id bigint,
    price_cents bigint,
    place_in_section bigint,
    section_id bigint,
    centre_twice integer,
    free_seats bigint
)
LANGUAGE sql STABLE
AS $$
    SELECT r.row_id, r.section, r.row_label, r.tier_id, t.price_cents,
           rank() OVER (PARTITION BY r.section ORDER BY r.row_id),
           min(r.row_id) OVER (PARTITION BY r.section),
           r.centre_twice, r.free_seats
    FROM (SELECT s.section, s.row_label, min(s.id) AS row_id, min(s.tier_id) AS tier_id,
                 min(s.number) + max(s.number) AS centre_twice,
                 count(*) FILTER (WHERE catalog.is_free(s)
                                    AND (p_tier_id IS NULL OR s.tier_id = p_tier_id)) AS free_seats
          FROM catalog.seats s
          WHERE s.event_id = p_event_id
          GROUP BY s.section, s.row_label) r
    JOIN catalog.price_tiers t ON t.id = r.tier_id
    WHERE p_section IS NULL OR r.section = p_section
$$;

-- Every block of `p_quantity` adjacent free seats of an event (consecutive numbers in one
-- section's row), optionally of one tier and one section, with its `place` (1 is best) by:
--   1. blocks that leave no single free seat alone between taken seats or a row's end
--      (`leaves_orphan`), whenever some block does;
--   2. the dearer tier (tiers are priced by how good their seats are);
--   3. the row nearer the stage: its place in its section, in layout order (a layout lists
--      a section's rows from the stage back), so every section's first row comes before
--      any section's second;
--   4. the block nearer its row's centre (`off_centre`: how far, in half seats);
--   5. the section listed earlier in the layout;
--   6. the lower seat number, so the order is total.
-- `run_length`: how many free seats the block's run has (its neighbours included).
-- With `p_first_rows`, only the blocks of the best rows with room for one: every row of the
-- rank groups (tier, place in section) that hold the first `p_first_rows` of them, so that
-- these blocks come in the same order as among all blocks.
CREATE FUNCTION catalog.seat_blocks(
    p_event_id bigint,
    p_quantity integer,
    p_tier_id bigint,
    p_section text,
    p_first_rows integer DEFAULT NULL
) RETURNS TABLE (
    place bigint,
    seat_ids bigint[],
    leaves_orphan boolean,
    section text,
    row_label text,
    off_centre integer,
    run_length integer
)
LANGUAGE sql STABLE
AS $$
    WITH room AS MATERIALIZED (
        SELECT r.*, dense_rank() OVER (ORDER BY r.price_cents DESC, r.place_in_section) AS rank_group,
               row_number() OVER (ORDER BY r.price_cents DESC, r.place_in_section, r.section_id) AS nth
        FROM catalog.seat_rows(p_event_id, p_tier_id, p_section) r
        WHERE r.free_seats >= p_quantity
    ), seat_row AS MATERIALIZED (
        SELECT * FROM room r
        WHERE p_first_rows IS NULL
           OR r.rank_group <= (SELECT max(x.rank_group) FROM room x WHERE x.nth <= p_first_rows)
    ), seat AS (
        -- Each seat of those rows with what sets its run apart: the taken seats and the
        -- missing numbers before it in its row.
        SELECT s.id, s.number, s.tier_id, r.row_id, catalog.is_free(s) AS free,
               count(*) FILTER (WHERE NOT catalog.is_free(s)) OVER seats_before AS taken_before,
               s.number - row_number() OVER seats_before AS numbering_gap
        FROM seat_row r
        JOIN catalog.seats s ON s.event_id = p_event_id AND s.section = r.section AND s.row_label = r.row_label
        WINDOW seats_before AS (PARTITION BY r.row_id ORDER BY s.number)
    ), run AS (
        -- Runs: free seats of one row and tier with nothing taken and no number missing
        -- between them. A layout gives a row one tier; in a row whose tiers interleave, a
        -- tier's seats that are not consecutive are no run.
        SELECT seat.row_id, array_agg(seat.id ORDER BY seat.number) AS ids, min(seat.number) AS first_number
        FROM seat
        WHERE seat.free AND (p_tier_id IS NULL OR seat.tier_id = p_tier_id)
        GROUP BY seat.row_id, seat.tier_id, seat.taken_before, seat.numbering_gap
        HAVING count(*) >= p_quantity AND max(seat.number) - min(seat.number) + 1 = count(*)
    )
    SELECT row_number() OVER (ORDER BY b.leaves_orphan, b.price_cents DESC, b.place_in_section,
                                       b.off_centre, b.section_id, b.first_number),
           b.seat_ids, b.leaves_orphan, b.section, b.row_label, b.off_centre, b.run_length
    FROM (SELECT run.ids[k + 1 : k + p_quantity] AS seat_ids,
                 k = 1 OR cardinality(run.ids) - p_quantity - k = 1 AS leaves_orphan,
                 r.section, r.row_label,
                 abs(2 * (run.first_number + k) + p_quantity - 1 - r.centre_twice) AS off_centre,
                 cardinality(run.ids) AS run_length,
                 r.price_cents, r.place_in_section, r.section_id, run.first_number + k AS first_number
          FROM run
          JOIN seat_row r ON r.row_id = run.row_id
          CROSS JOIN generate_series(0, cardinality(run.ids) - p_quantity) k) b
$$;

-- A best-available hold of `p_quantity` seats, optionally of the tier and the section named.
-- The event must be on sale and the caps allow the seats, as for any hold; then the best
-- block (catalog.seat_blocks) that can be locked is taken through take_seats, the very
-- statement of a chosen-seat hold.
--
-- Ranking every block of a large event costs far more than a hold (the stadium's 6,000
-- seats: 30 times one aggregate over them), so a first look ranks only the blocks of the
-- best 8 rows with room (seat_blocks' p_first_rows) and takes one that leaves no seat
-- alone. Only if it finds none does the hold rank all blocks.
--
-- Under a rush many buyers want the same best block at once. The first passes try the
-- blocks best first, skipping any seat another transaction has locked (SKIP LOCKED), so
-- concurrent requests spread over the next-best blocks instead of queueing on one and
-- failing. A block it cannot lock whole is let go at once (its partial locks are rolled
-- back with a subtransaction), so nobody is kept from seats nobody takes. Only when every
-- block was locked or gone does a last pass, over a fresh view of the seats, wait for
-- the locks, so the answer "not enough" is never caused by a transaction still in flight.
--
-- Outcomes: event_open false (not on sale), unknown_field ('tier' or 'section' named
-- nothing of this event), a cap refusal as for hold_seats, a hold (hold_id, expires_at,
-- seat_ids), or no hold with `seats_left` (free seats matching) and `largest_block` (the
-- most of them adjacent in one row).
CREATE FUNCTION catalog.hold_best_available(
    p_event_id bigint,
    p_quantity bigint,
    p_tier text,
    p_section text,
    p_user_id uuid,
    p_ttl_seconds bigint,
    p_max_held_seats bigint,
    p_max_tickets bigint
) RETURNS TABLE (
    event_open boolean,
    unknown_field text,
    hold_id text,
    expires_at text,
    seat_ids bigint[],
    cap text,
    cap_limit bigint,
    seats_allowed bigint,
    seats_left bigint,
    largest_block bigint
)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    v_quantity integer := p_quantity::integer;
    v_tier_id bigint;
    v_refusal record;
    v_pass text;
    v_block bigint[];
    v_locked bigint[];
    v_passed_over bigint[] := '{}';
    v_hold record;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM catalog.events e WHERE e.id = p_event_id AND catalog.on_sale(e);
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::text, NULL::text, NULL::text, NULL::bigint[],
                            NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF p_tier IS NOT NULL THEN
        SELECT t.id INTO v_tier_id FROM catalog.price_tiers t WHERE t.event_id = p_event_id AND t.name = p_tier;
        IF NOT FOUND THEN
            RETURN QUERY SELECT true, 'tier'::text, NULL::text, NULL::text, NULL::bigint[],
                                NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
    END IF;
    IF p_section IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM catalog.seats s WHERE s.event_id = p_event_id AND s.section = p_section) THEN
        RETURN QUERY SELECT true, 'section'::text, NULL::text, NULL::text, NULL::bigint[],
                            NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    SELECT * INTO v_refusal
    FROM catalog.account_cap_refusal(p_event_id, p_user_id, p_quantity, p_max_held_seats, p_max_tickets);
    IF FOUND THEN
        RETURN QUERY SELECT true, NULL::text, NULL::text, NULL::text, NULL::bigint[],
                            v_refusal.cap, v_refusal.cap_limit, v_refusal.seats_allowed, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    FOREACH v_pass IN ARRAY ARRAY['best rows', 'all rows', 'waiting'] LOOP
        IF v_pass = 'waiting' THEN
            v_passed_over := '{}';
        END IF;
        FOR v_block IN
            SELECT b.seat_ids
            FROM catalog.seat_blocks(p_event_id, v_quantity, v_tier_id, p_section,
                                     CASE WHEN v_pass = 'best rows' THEN 8 END) b
            WHERE v_pass <> 'best rows' OR NOT b.leaves_orphan
            ORDER BY b.place
        LOOP
            CONTINUE WHEN v_block && v_passed_over;
            BEGIN
                EXECUTE format(
                    'SELECT ARRAY(SELECT s.id FROM catalog.seats s WHERE s.id = ANY($1) AND catalog.is_free(s)
                                  ORDER BY s.id FOR UPDATE OF s %s)',
                    CASE WHEN v_pass = 'waiting' THEN '' ELSE 'SKIP LOCKED' END)
                INTO v_locked USING v_block;
                IF cardinality(v_locked) < v_quantity THEN
                    RAISE EXCEPTION USING ERRCODE = 'TB001';
                END IF;
            EXCEPTION WHEN SQLSTATE 'TB001' THEN
                -- Lets go of the seats it did lock; the others are passed over from now on.
                v_passed_over := v_passed_over || ARRAY(SELECT unnest(v_block) EXCEPT SELECT unnest(v_locked));
                CONTINUE;
            END;
            SELECT * INTO v_hold FROM catalog.take_seats(p_event_id, v_locked, p_user_id, p_ttl_seconds) t;
            IF v_hold.hold_id IS NOT NULL OR NOT v_hold.event_open THEN
                RETURN QUERY SELECT v_hold.event_open, NULL::text, v_hold.hold_id, v_hold.expires_at, v_locked,
                                    NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
                RETURN;
            END IF;
        END LOOP;
    END LOOP;

    RETURN QUERY
    SELECT true, NULL::text, NULL::text, NULL::text, NULL::bigint[], NULL::text, NULL::bigint, NULL::bigint,
           count(*), coalesce(max(b.run_length), 0)::int8
    FROM catalog.seat_blocks(p_event_id, 1, v_tier_id, p_section) b;
END
$$;
