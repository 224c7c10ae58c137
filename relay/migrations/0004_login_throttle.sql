-- Up Migration
-- Failed-login state per account and per client IP, in PostgreSQL so it holds across relay
-- processes and restarts. Rows are locked (SELECT ... FOR UPDATE) for the length of one login
-- attempt, so parallel guesses are serialised and each one is counted.
CREATE TABLE login_throttle (
  scope text NOT NULL CHECK (scope IN ('user', 'ip')),
  key text NOT NULL,
  failures integer NOT NULL DEFAULT 0,
  locks integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  last_failure_at timestamptz,
  PRIMARY KEY (scope, key)
);

-- Down Migration
DROP TABLE login_throttle;
