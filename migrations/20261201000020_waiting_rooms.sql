-- Virtual waiting rooms: an organizer's settings per event. The queue itself lives in
-- Redis under the room's key; a room turned off and on again gets a new key, so a new queue.
CREATE TABLE catalog.waiting_rooms (
    event_id          bigint PRIMARY KEY REFERENCES catalog.events (id) ON DELETE CASCADE,
    room_key          uuid NOT NULL DEFAULT gen_random_uuid(),
    opens_at          timestamptz NOT NULL,
    -- NULL: admit as seats allow.
    admit_per_minute  integer CHECK (admit_per_minute BETWEEN 1 AND 100000),
    admission_minutes integer NOT NULL CHECK (admission_minutes BETWEEN 1 AND 120),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
