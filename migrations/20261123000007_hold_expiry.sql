-- Live seat maps and hold reminders. A lapsed hold's seats are free for new holds at once
-- (hold_seats treats them so); the sidecar also frees them promptly so that viewers of the
-- seat map are told, and warns each buyer once, a minute before their hold lapses.
ALTER TABLE catalog.holds ADD COLUMN expiry_warned_at timestamptz;

-- Holds still to warn, by expiry: the job reads only the next minute's.
CREATE INDEX holds_to_warn ON catalog.holds (expires_at)
    WHERE expiry_warned_at IS NULL AND released_at IS NULL;

-- Held seats by the moment they lapse: the job reads only those already past it.
CREATE INDEX seats_held_until ON catalog.seats (held_until) WHERE status = 'held';
