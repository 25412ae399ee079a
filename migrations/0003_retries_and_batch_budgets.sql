-- 0003: retrying a failed or timed-out request, and what a finished batch and a schedule leave behind.

-- A retry needs a fresh upstream task: the old out_task_id may already be known (and billed) upstream.
-- The row keeps its out_task_id (its identity, so a re-import still finds it); the id sent upstream for
-- the retry is kept here. Null: the upstream knows the task by out_task_id.
alter table generation_requests add column upstream_out_task_id text
    check (length(upstream_out_task_id) <= 64 and upstream_out_task_id ~ '^[A-Za-z0-9_-]+$');
alter table generation_requests add column retries integer not null default 0;
create unique index ix_requests_upstream_out_task_id on generation_requests (upstream_out_task_id)
    where upstream_out_task_id is not null;

-- Batches whose requests are not all final yet, for progress and the finish sweep.
create index ix_batches_open on batches (id) where finished_at is null;
