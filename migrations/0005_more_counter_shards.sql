-- 0005: counters with 64 shards instead of 8.
--
-- Measured with the throughput benchmark: with about 30 backends writing transitions at once, 8 shards put
-- several backends on each counter row, and each waited for the others' commits (3.7 ms per counter upsert,
-- most of the database time of a transition). 64 shards give each backend of a pool its own rows; reads
-- still sum the shards, now at most 64 rows per state.

create or replace function request_counts_apply() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 64)::smallint, count(*) from new_rows group by state order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;

        insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used)
        select batch_id, state, (pg_backend_pid() % 64)::smallint, count(*), coalesce(sum(estimated_credits), 0), coalesce(sum(credits_used), 0)
        from new_rows where batch_id is not null group by batch_id, state order by batch_id, state
        on conflict (batch_id, state, shard) do update set count = batch_counts.count + excluded.count,
            estimated_credits = batch_counts.estimated_credits + excluded.estimated_credits,
            credits_used = batch_counts.credits_used + excluded.credits_used;
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

        insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used)
        select batch_id, state, (pg_backend_pid() % 64)::smallint, sum(n), sum(e), sum(u)
        from (select batch_id, state, -1 as n, -coalesce(estimated_credits, 0) as e, -coalesce(credits_used, 0) as u
              from old_rows where batch_id is not null
              union all
              select batch_id, state, 1, coalesce(estimated_credits, 0), coalesce(credits_used, 0)
              from new_rows where batch_id is not null) d
        group by batch_id, state having sum(n) <> 0 or sum(e) <> 0 or sum(u) <> 0 order by batch_id, state
        on conflict (batch_id, state, shard) do update set count = batch_counts.count + excluded.count,
            estimated_credits = batch_counts.estimated_credits + excluded.estimated_credits,
            credits_used = batch_counts.credits_used + excluded.credits_used;
    end if;
    return null;
end
$$;
