CREATE TABLE catalog.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    category    text NOT NULL CHECK (category IN ('concert', 'theater', 'sports', 'festival', 'conference')),
    description text NOT NULL CHECK (length(description) <= 5000),
    venue       text NOT NULL CHECK (length(venue) BETWEEN 1 AND 200),
    city        text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    currency    text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'cancelled')),
    image_url   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX events_published_by_date ON catalog.events (starts_at) WHERE status = 'published';
CREATE INDEX events_search ON catalog.events
    USING gin ((title || ' ' || venue || ' ' || city || ' ' || description) gin_trgm_ops);

CREATE TABLE catalog.price_tiers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    bigint NOT NULL REFERENCES catalog.events (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    UNIQUE (event_id, name),
    UNIQUE (id, event_id)
);

-- A seat's status is the truth about who may take it. 'held' with held_until in the past
-- counts as available at once: no sweeper is needed for correctness.
CREATE TABLE catalog.seats (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES catalog.events (id) ON DELETE CASCADE,
    tier_id    bigint NOT NULL,
    section    text NOT NULL CHECK (length(section) BETWEEN 1 AND 50),
    row_label  text NOT NULL CHECK (length(row_label) BETWEEN 1 AND 10),
    number     integer NOT NULL CHECK (number > 0),
    status     text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
    hold_id    uuid,
    held_until timestamptz,
    UNIQUE (event_id, section, row_label, number),
    -- A seat's tier belongs to the seat's own event.
    FOREIGN KEY (tier_id, event_id) REFERENCES catalog.price_tiers (id, event_id),
    CHECK (status <> 'held' OR (hold_id IS NOT NULL AND held_until IS NOT NULL)),
    CHECK (status <> 'available' OR (hold_id IS NULL AND held_until IS NULL))
);
CREATE INDEX seats_by_event ON catalog.seats (event_id, status);
CREATE INDEX seats_by_hold ON catalog.seats (hold_id) WHERE hold_id IS NOT NULL;

CREATE TABLE catalog.holds (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id    bigint NOT NULL REFERENCES catalog.events (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    seat_ids    bigint[] NOT NULL CHECK (cardinality(seat_ids) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    released_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX holds_by_user ON catalog.holds (user_id, expires_at DESC);
