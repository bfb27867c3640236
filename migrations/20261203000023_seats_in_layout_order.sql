-- The seat status lists every seat of an event in the layout's order: sections and rows
-- in the order of their first seat's id, seats by number. It is rebuilt about once a
-- second under load, and finding that order took two window functions and a sort over
-- the event's seats at each rebuild: 14.6 ms of PostgreSQL for the 6,000-seat stadium.
-- A seat's place never changes once written, so each seat now keeps its position in that
-- order, numbered when its event's seats are written, whatever writes them; the status
-- then sorts on one integer (about 3 ms). No index on it: every hold and sale rewrites
-- seat rows, and one more index entry each would cost more than the once-a-second sort.
ALTER TABLE catalog.seats ADD COLUMN layout_position integer;

CREATE FUNCTION catalog.number_seats_in_layout_order(p_event_ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE catalog.seats s SET layout_position = p.position
    FROM (
        SELECT q.id, row_number() OVER (PARTITION BY q.event_id
                                        ORDER BY q.section_first_id, q.row_first_id, q.number)::integer AS position
        FROM (
            SELECT s.id, s.event_id, s.number,
                   min(s.id) OVER (PARTITION BY s.event_id, s.section) AS section_first_id,
                   min(s.id) OVER (PARTITION BY s.event_id, s.section, s.row_label) AS row_first_id
            FROM catalog.seats s
            WHERE s.event_id = ANY(p_event_ids)
        ) q
    ) p
    WHERE s.id = p.id AND s.layout_position IS DISTINCT FROM p.position;
$$;

CREATE FUNCTION catalog.number_added_seats_in_layout_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog.number_seats_in_layout_order(ARRAY(SELECT DISTINCT a.event_id FROM added a));
    RETURN NULL;
END;
$$;

CREATE TRIGGER seats_numbered_in_layout_order
    AFTER INSERT ON catalog.seats
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION catalog.number_added_seats_in_layout_order();

-- The positions, and the layout's version (which hashes only the seats' count and last
-- id), hold because a seat's place is written once: moving a seat is refused.
CREATE FUNCTION catalog.refuse_moving_a_seat() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'seat % cannot move: a seat''s section, row and number are set when its event is created', OLD.id
        USING ERRCODE = 'check_violation';
END;
$$;

CREATE TRIGGER seats_stay_in_place
    BEFORE UPDATE OF section, row_label, number ON catalog.seats
    FOR EACH ROW
    WHEN (OLD.section IS DISTINCT FROM NEW.section
          OR OLD.row_label IS DISTINCT FROM NEW.row_label
          OR OLD.number IS DISTINCT FROM NEW.number)
    EXECUTE FUNCTION catalog.refuse_moving_a_seat();

-- Seats written before this migration.
SELECT catalog.number_seats_in_layout_order(ARRAY(SELECT e.id FROM catalog.events e));
