-- Up Migration
-- Registrations started per client IP in a fixed one-hour window (REGISTER_IP_PER_HOUR), so one
-- client cannot squat usernames with pending registrations. In PostgreSQL: holds across processes.
CREATE TABLE registration_rate (
  ip text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  count integer NOT NULL
);

-- Down Migration
DROP TABLE registration_rate;
