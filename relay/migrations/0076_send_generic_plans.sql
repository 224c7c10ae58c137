-- Up Migration
-- The send functions' statements use generic plans (relay/BENCHMARKS.md, "Generic plans for the
-- send functions"). PL/pgSQL caches a plan per statement per connection, but while a custom
-- plan's estimated cost is below the generic plan's, PostgreSQL's plan cache keeps planning the
-- statement anew on every call (plan_cache_mode = auto, "PREPARE" in the PostgreSQL manual). A
-- generic plan estimates every unnest() of a parameter array at 10 elements; the custom plans of
-- a batch of one to ten sends see fewer, so they always looked cheaper and were rebuilt on every
-- call: measured, serial, about 4 ms of planning per batch — more than storing the batch.
-- A generic plan lives as long as the statistics it was made from: one made while a table was
-- small reads it sequentially (the cheapest way then) until the next ANALYZE, and a busy new
-- relay grows its tables by thousands of rows between two autovacuum runs. Every statement here
-- looks rows up by key (primary keys, the unique indexes), so sequential scans are switched off
-- for them: the plan is the index plan at any size (relay/test/send-plans.test.ts checks it on
-- tables grown since the plans were made, before and after ANALYZE). Both settings apply to
-- everything the function calls, foreign-key checks included.
ALTER FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[])
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[])
  SET enable_seqscan = off;
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET enable_seqscan = off;

-- Down Migration
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  RESET ALL;
ALTER FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[])
  RESET ALL;
