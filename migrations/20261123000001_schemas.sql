-- One schema per bounded context. Extensions for UUIDs and trigram search.
CREATE SCHEMA IF NOT EXISTS catalog;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS orders;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Timestamps leave the database as RFC 3339 UTC text, the form the API answers with.
CREATE FUNCTION public.iso_utc(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
