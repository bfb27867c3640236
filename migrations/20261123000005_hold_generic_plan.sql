-- PL/pgSQL re-plans the hold's statement with each call's arguments (a custom plan)
-- as long as it guesses that beats a generic one, and for this statement it always
-- does, so every hold paid for planning. The generic plan (seats by primary key from
-- the array) is the right one for any arguments: plan once per connection.
ALTER FUNCTION catalog.hold_seats(bigint, bigint[], uuid, bigint)
    SET plan_cache_mode = force_generic_plan;
