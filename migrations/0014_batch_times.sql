-- 0014: a batch's first submit and last completion, kept with its counters.
--
-- One batch's progress read them from the batch's rows: min(submitted_at) read all of them (34 ms at 10,000 requests)
-- and max(completed_at) walked the completion index past every newer completion of other batches, so the read grew
-- with the batch and with the traffic (94 ms at p99 after a full benchmark run). The counters' trigger now keeps both
-- times on the batch's counter rows, each shard its own (a single row per batch would make every completion of the
-- batch wait for the others), and a read takes the min and max over a few rows.
--
-- The times only move outwards: the earliest submit and the latest completion the batch has seen. A retry that clears
-- a request's times, or the retention that deletes its rows, leaves them where they were: the batch still started then.
-- They are written only where a counter row is written anyway, by a transition that changes a state; every edge that
-- sets submitted_at or completed_at does. Poll reschedules and lease renewals still write no counter.
alter table batch_counts add column first_submitted_at timestamptz, add column last_completed_at timestamptz;

create or replace function request_counts_apply() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 64)::smallint, count(*) from new_rows group by state order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;

        insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used, first_submitted_at, last_completed_at)
        select batch_id, state, (pg_backend_pid() % 64)::smallint, count(*), coalesce(sum(estimated_credits), 0), coalesce(sum(credits_used), 0),
               min(submitted_at), max(completed_at)
        from new_rows where batch_id is not null group by batch_id, state order by batch_id, state
        on conflict (batch_id, state, shard) do update set count = batch_counts.count + excluded.count,
            estimated_credits = batch_counts.estimated_credits + excluded.estimated_credits,
            credits_used = batch_counts.credits_used + excluded.credits_used,
            first_submitted_at = least(batch_counts.first_submitted_at, excluded.first_submitted_at),
            last_completed_at = greatest(batch_counts.last_completed_at, excluded.last_completed_at);
    elsif tg_op = 'DELETE' then
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 64)::smallint, -count(*) from old_rows group by state order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;
    else
        -- A claim round that found nothing updates no row: nothing to count, and nothing more to run.
        perform 1 from new_rows limit 1;
        if not found then
            return null;
        end if;

        -- Most updates (poll reschedules, lease renewals) change no state and no credits: nothing to write then.
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 64)::smallint, sum(n)
        from (select state, -1 as n from old_rows union all select state, 1 from new_rows) d
        group by state having sum(n) <> 0 order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;

        insert into daily_credits (day, shard, credits)
        select day, (pg_backend_pid() % 64)::smallint, sum(c)
        from (select (completed_at at time zone 'UTC')::date as day, -credits_used as c from old_rows
              where completed_at is not null and credits_used is not null
              union all
              select (completed_at at time zone 'UTC')::date, credits_used from new_rows
              where completed_at is not null and credits_used is not null) d
        group by day having sum(c) <> 0 order by day
        on conflict (day, shard) do update set credits = daily_credits.credits + excluded.credits;

        -- The times come from the new rows only (the old side's are nulls): where the rows are now.
        insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used, first_submitted_at, last_completed_at)
        select batch_id, state, (pg_backend_pid() % 64)::smallint, sum(n), sum(e), sum(u), min(s), max(c)
        from (select batch_id, state, -1 as n, -coalesce(estimated_credits, 0) as e, -coalesce(credits_used, 0) as u,
                     null::timestamptz as s, null::timestamptz as c
              from old_rows where batch_id is not null
              union all
              select batch_id, state, 1, coalesce(estimated_credits, 0), coalesce(credits_used, 0), submitted_at, completed_at
              from new_rows where batch_id is not null) d
        group by batch_id, state having sum(n) <> 0 or sum(e) <> 0 or sum(u) <> 0 order by batch_id, state
        on conflict (batch_id, state, shard) do update set count = batch_counts.count + excluded.count,
            estimated_credits = batch_counts.estimated_credits + excluded.estimated_credits,
            credits_used = batch_counts.credits_used + excluded.credits_used,
            first_submitted_at = least(batch_counts.first_submitted_at, excluded.first_submitted_at),
            last_completed_at = greatest(batch_counts.last_completed_at, excluded.last_completed_at);
    end if;
    return null;
end
$$;

-- The times of the requests there are now, on every shard row of their batch and state (a read takes the min and max).
update batch_counts c set first_submitted_at = t.first_submitted_at, last_completed_at = t.last_completed_at
from (select batch_id, state, min(submitted_at) as first_submitted_at, max(completed_at) as last_completed_at
      from generation_requests where batch_id is not null group by batch_id, state) t
where c.batch_id = t.batch_id and c.state = t.state;
