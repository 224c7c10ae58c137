-- Up Migration
-- The send functions' statements use generic plans (relay/BENCHMARKS.md, "Generic plans for the
-- send functions"). PL/pgSQL caches a plan per statement per connection, but while a custom
-- plan's estimated cost is below the generic plan's, PostgreSQL's plan cache keeps planning the
-- statement anew on every call (plan_cache_mode = auto, "PREPARE" in the PostgreSQL manual). A
-- generic plan estimates every unnest() of a parameter array at 10 elements; the custom plans of
-- a batch of one to ten sends see fewer, so they always look cheaper and were rebuilt on every
-- call: measured, serial, about 4 ms of planning per batch — more than storing the batch.
-- Every statement here looks rows up by key (primary keys, the unique indexes), so the generic
-- plan is the plan a custom one would be; relay/test/send-plans.test.ts checks that at scale no
-- table is read sequentially. The setting applies to everything the function calls.
ALTER FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[])
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  SET plan_cache_mode = force_generic_plan;

-- Down Migration
ALTER FUNCTION send_message_copies(uuid, uuid, text, text, integer[], boolean[], bytea[], timestamptz, text, float8, float8, bigint)
  RESET plan_cache_mode;
ALTER FUNCTION send_message_batch(uuid[], uuid[], text[], text[], integer[], integer[], integer[], boolean[], bytea[], timestamptz[], text[], float8[], float8[], bigint[])
  RESET plan_cache_mode;
