-- Check-ins at the gate. A ticket is admitted once: its status goes from 'valid' to 'used'
-- in one conditional UPDATE (of two gates scanning it at the same moment, the second
-- waits for the first and then finds it used), and orders.checkins holds at most one row
-- per ticket. Every scan that names a ticket is kept in orders.scans with the answer it
-- got, so a request retried with the same nonce gets the same answer again.

-- The admission of each used ticket: which gate, when scanned (an offline scanner's
-- clock for uploaded scans), when recorded here.
CREATE TABLE orders.checkins (
    ticket_id    uuid PRIMARY KEY REFERENCES orders.tickets (id) ON DELETE CASCADE,
    event_id     bigint NOT NULL REFERENCES catalog.events (id) ON DELETE CASCADE,
    gate_user_id uuid NOT NULL REFERENCES auth.users (id),
    scanned_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    offline      boolean NOT NULL
);
CREATE INDEX checkins_by_event ON orders.checkins (event_id);
CREATE INDEX tickets_by_event_status ON orders.tickets (event_id, status) WHERE status <> 'valid';

-- Every scan a gate sent for a ticket id, with its answer. The ticket id is the code's,
-- whether or not such a ticket exists (then the answer was 'invalid').
CREATE TABLE orders.scans (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gate_user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    -- The scanner's id for this scan: a retry with the same nonce is answered from here.
    nonce            text CHECK (length(nonce) BETWEEN 1 AND 128),
    ticket_id        uuid NOT NULL,
    event_id         bigint,
    scanned_at       timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    offline          boolean NOT NULL,
    status           text NOT NULL
                     CHECK (status IN ('ok', 'already_redeemed', 'invalid', 'void', 'wrong_event')),
    -- An uploaded offline scan of a ticket that another scan also admitted.
    double_entry     boolean NOT NULL,
    seat             text,
    first_checkin_at timestamptz,
    gate             text
);
CREATE UNIQUE INDEX scans_one_per_nonce ON orders.scans (gate_user_id, nonce) WHERE nonce IS NOT NULL;
CREATE INDEX scans_by_ticket ON orders.scans (ticket_id);

-- Checks in ticket p_ticket_id for gate account p_gate_id: the scan's answer.
-- p_offline: an uploaded offline scan, made at p_scanned_at; the earliest scan of a
-- ticket admits it, so an upload older than the recorded admission takes its place.
-- Statuses: ok, already_redeemed, invalid (no such ticket), void, wrong_event (the gate is
-- not staff of the ticket's event), and nonce_reused (the nonce named another ticket;
-- nothing is recorded).
CREATE FUNCTION orders.check_in(
    p_gate_id uuid,
    p_ticket_id uuid,
    p_nonce text,
    p_scanned_at timestamptz,
    p_offline boolean
) RETURNS TABLE (
    status text,
    ticket_id uuid,
    event_id bigint,
    seat text,
    first_checkin_at text,
    gate text,
    double_entry boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_scan orders.scans%ROWTYPE;
    v_ticket orders.tickets%ROWTYPE;
    v_status text;
    v_double boolean := false;
    v_seat text;
    v_first timestamptz;
    v_gate text;
BEGIN
    IF p_nonce IS NOT NULL THEN
        -- Concurrent retries of one scan queue here; the later ones find the first's answer.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_gate_id::text || '/' || p_nonce, 16));
        SELECT * INTO v_scan FROM orders.scans s WHERE s.gate_user_id = p_gate_id AND s.nonce = p_nonce;
        IF FOUND THEN
            IF v_scan.ticket_id <> p_ticket_id THEN
                RETURN QUERY SELECT 'nonce_reused'::text, NULL::uuid, NULL::bigint, NULL::text,
                                    NULL::text, NULL::text, false;
            ELSE
                RETURN QUERY SELECT v_scan.status,
                                    CASE WHEN v_scan.status = 'invalid' THEN NULL ELSE v_scan.ticket_id END,
                                    v_scan.event_id, v_scan.seat, iso_utc(v_scan.first_checkin_at),
                                    v_scan.gate, v_scan.double_entry;
            END IF;
            RETURN;
        END IF;
    END IF;

    SELECT * INTO v_ticket FROM orders.tickets t WHERE t.id = p_ticket_id;
    IF NOT FOUND THEN
        v_status := 'invalid';
    ELSIF NOT EXISTS (SELECT 1 FROM catalog.gate_staff g
                      WHERE g.event_id = v_ticket.event_id AND g.user_id = p_gate_id) THEN
        v_status := 'wrong_event';
    ELSE
        UPDATE orders.tickets t SET status = 'used' WHERE t.id = p_ticket_id AND t.status = 'valid';
        IF FOUND THEN
            INSERT INTO orders.checkins (ticket_id, event_id, gate_user_id, scanned_at, offline)
            VALUES (p_ticket_id, v_ticket.event_id, p_gate_id, p_scanned_at, p_offline);
            v_status := 'ok';
        ELSIF (SELECT t.status FROM orders.tickets t WHERE t.id = p_ticket_id) = 'void' THEN
            v_status := 'void';
        ELSIF p_offline THEN
            -- Both scans let the holder in: a double entry. The earlier one counts as the admission.
            UPDATE orders.checkins c
            SET scanned_at = p_scanned_at, gate_user_id = p_gate_id, offline = true,
                recorded_at = clock_timestamp()
            WHERE c.ticket_id = p_ticket_id AND c.scanned_at > p_scanned_at;
            v_status := CASE WHEN FOUND THEN 'ok' ELSE 'already_redeemed' END;
            v_double := true;
        ELSE
            v_status := 'already_redeemed';
        END IF;
        SELECT s.section || ' / ' || s.row_label || ' / ' || s.number INTO v_seat
        FROM catalog.seats s WHERE s.id = v_ticket.seat_id;
        SELECT c.scanned_at, u.name || ' (' || u.email || ')' INTO v_first, v_gate
        FROM orders.checkins c JOIN auth.users u ON u.id = c.gate_user_id
        WHERE c.ticket_id = p_ticket_id;
    END IF;

    INSERT INTO orders.scans (gate_user_id, nonce, ticket_id, event_id, scanned_at, offline,
                              status, double_entry, seat, first_checkin_at, gate)
    VALUES (p_gate_id, p_nonce, p_ticket_id, v_ticket.event_id, p_scanned_at, p_offline,
            v_status, v_double, v_seat, v_first, v_gate);
    RETURN QUERY SELECT v_status,
                        CASE WHEN v_status = 'invalid' THEN NULL ELSE p_ticket_id END,
                        v_ticket.event_id, v_seat, iso_utc(v_first), v_gate, v_double;
END
$$;
