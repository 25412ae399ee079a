-- 0013: completions counted per minute.
--
-- The overview's chart (the last hour, minute by minute) and the "today" tiles on Hangfire's dashboard counted the
-- requests completed in their window from the rows themselves, a read that grew with the traffic: in a full benchmark
-- run, after more than 80,000 completions within the hour, the overview took 105 ms at p50 and 157 ms at p99. These counters
-- hold the same figures (requests whose completed_at falls in the minute, by their state now), kept by a
-- statement-level trigger the way request_counts are, so each read sums at most a minute's row per counter shard.
create table completion_counts (
    minute     timestamptz not null,
    shard      smallint    not null,
    succeeded  bigint      not null,
    failed     bigint      not null, -- failed or timed out
    primary key (minute, shard)
);

create function completion_counts_apply() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        -- Most updates (claims, lease renewals, poll reschedules) touch no completed row: nothing to count.
        if not exists (select 1 from new_rows where completed_at is not null)
           and not exists (select 1 from old_rows where completed_at is not null) then
            return null;
        end if;

        insert into completion_counts (minute, shard, succeeded, failed)
        select minute, (pg_backend_pid() % 64)::smallint, sum(s), sum(f)
        from (select date_trunc('minute', completed_at) as minute, -(state = 'succeeded')::int as s, -(state <> 'succeeded')::int as f
              from old_rows where completed_at is not null and state in ('succeeded', 'failed', 'timed_out')
              union all
              select date_trunc('minute', completed_at), (state = 'succeeded')::int, (state <> 'succeeded')::int
              from new_rows where completed_at is not null and state in ('succeeded', 'failed', 'timed_out')) d
        group by minute having sum(s) <> 0 or sum(f) <> 0 order by minute
        on conflict (minute, shard) do update set succeeded = completion_counts.succeeded + excluded.succeeded,
            failed = completion_counts.failed + excluded.failed;
    elsif tg_op = 'INSERT' then
        insert into completion_counts (minute, shard, succeeded, failed)
        select date_trunc('minute', completed_at), (pg_backend_pid() % 64)::smallint,
               count(*) filter (where state = 'succeeded'), count(*) filter (where state <> 'succeeded')
        from new_rows where completed_at is not null and state in ('succeeded', 'failed', 'timed_out')
        group by 1 order by 1
        on conflict (minute, shard) do update set succeeded = completion_counts.succeeded + excluded.succeeded,
            failed = completion_counts.failed + excluded.failed;
    else
        insert into completion_counts (minute, shard, succeeded, failed)
        select date_trunc('minute', completed_at), (pg_backend_pid() % 64)::smallint,
               -count(*) filter (where state = 'succeeded'), -count(*) filter (where state <> 'succeeded')
        from old_rows where completed_at is not null and state in ('succeeded', 'failed', 'timed_out')
        group by 1 order by 1
        on conflict (minute, shard) do update set succeeded = completion_counts.succeeded + excluded.succeeded,
            failed = completion_counts.failed + excluded.failed;
    end if;
    return null;
end
$$;

create trigger completion_counts_on_insert after insert on generation_requests
    referencing new table as new_rows for each statement execute function completion_counts_apply();
create trigger completion_counts_on_update after update on generation_requests
    referencing old table as old_rows new table as new_rows for each statement execute function completion_counts_apply();
create trigger completion_counts_on_delete after delete on generation_requests
    referencing old table as old_rows for each statement execute function completion_counts_apply();

-- Every completion already stored, so the figures match the rows from the first read. The retention job keeps two days.
insert into completion_counts (minute, shard, succeeded, failed)
select date_trunc('minute', completed_at), 0, count(*) filter (where state = 'succeeded'), count(*) filter (where state <> 'succeeded')
from generation_requests where completed_at is not null and state in ('succeeded', 'failed', 'timed_out')
group by 1;
