-- 0008: remember when a task was last asked about.
--
-- The upstream asks for one query every 3-5 s. The next poll time alone could not keep that promise: a
-- callback, a lease taken over or the final check at the deadline made a row due again sooner, and a task
-- was asked twice 60 ms apart. With the time of the last answer on the row, every poll is held back until
-- IntervalMin after it. No index covers the column, so a poll's claim stays a heap-only update.

alter table generation_requests add column polled_at timestamptz;
