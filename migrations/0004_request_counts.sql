-- 0004: counts per state that the dashboard can read in microseconds at any table size.
--
-- Counting a million rows by state takes a scan; these counters are kept by statement-level triggers
-- instead (one upsert per statement, not per row). Each backend writes to its own shard of the counters,
-- so concurrent workers do not queue on one hot row; a read sums the shards.

create table request_counts (
    state   text     not null,
    shard   smallint not null,
    count   bigint   not null default 0,
    primary key (state, shard)
);

insert into request_counts (state, shard, count)
select state, 0, count(*) from generation_requests group by state;

-- Credits used per UTC day of completion, kept the same way, for "today" and "this month" at any size.
create table daily_credits (
    day      date          not null,
    shard    smallint      not null,
    credits  numeric(16, 2) not null default 0,
    primary key (day, shard)
);

insert into daily_credits (day, shard, credits)
select (completed_at at time zone 'UTC')::date, 0, sum(credits_used)
from generation_requests where completed_at is not null and credits_used is not null group by 1;

-- The same per batch, with the credits estimated and used, so a list of batches with progress bars reads a
-- few rows per batch instead of counting each batch's requests.
create table batch_counts (
    batch_id           bigint         not null references batches (id) on delete cascade,
    state              text           not null,
    shard              smallint       not null,
    count              bigint         not null default 0,
    estimated_credits  numeric(16, 2) not null default 0,
    credits_used       numeric(16, 2) not null default 0,
    primary key (batch_id, state, shard)
);

insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used)
select batch_id, state, 0, count(*), coalesce(sum(estimated_credits), 0), coalesce(sum(credits_used), 0)
from generation_requests where batch_id is not null group by batch_id, state;

-- Looking a request up by the caller's key (a SKU) from the dashboard's search.
create index ix_requests_item_key on generation_requests (item_key) where item_key is not null;

create function request_counts_apply() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 8)::smallint, count(*) from new_rows group by state order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;

        insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used)
        select batch_id, state, (pg_backend_pid() % 8)::smallint, count(*), coalesce(sum(estimated_credits), 0), coalesce(sum(credits_used), 0)
        from new_rows where batch_id is not null group by batch_id, state order by batch_id, state
        on conflict (batch_id, state, shard) do update set count = batch_counts.count + excluded.count,
            estimated_credits = batch_counts.estimated_credits + excluded.estimated_credits,
            credits_used = batch_counts.credits_used + excluded.credits_used;
    elsif tg_op = 'DELETE' then
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 8)::smallint, -count(*) from old_rows group by state order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;
    else
        -- A claim round that found nothing updates no row: nothing to count, and nothing more to run.
        perform 1 from new_rows limit 1;
        if not found then
            return null;
        end if;

        -- Most updates (poll reschedules, lease renewals) change no state and no credits: nothing to write then.
        insert into request_counts (state, shard, count)
        select state, (pg_backend_pid() % 8)::smallint, sum(n)
        from (select state, -1 as n from old_rows union all select state, 1 from new_rows) d
        group by state having sum(n) <> 0 order by state
        on conflict (state, shard) do update set count = request_counts.count + excluded.count;

        insert into daily_credits (day, shard, credits)
        select day, (pg_backend_pid() % 8)::smallint, sum(c)
        from (select (completed_at at time zone 'UTC')::date as day, -credits_used as c from old_rows
              where completed_at is not null and credits_used is not null
              union all
              select (completed_at at time zone 'UTC')::date, credits_used from new_rows
              where completed_at is not null and credits_used is not null) d
        group by day having sum(c) <> 0 order by day
        on conflict (day, shard) do update set credits = daily_credits.credits + excluded.credits;

        insert into batch_counts (batch_id, state, shard, count, estimated_credits, credits_used)
        select batch_id, state, (pg_backend_pid() % 8)::smallint, sum(n), sum(e), sum(u)
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

create trigger request_counts_on_insert after insert on generation_requests
    referencing new table as new_rows for each statement execute function request_counts_apply();
create trigger request_counts_on_update after update on generation_requests
    referencing old table as old_rows new table as new_rows for each statement execute function request_counts_apply();
create trigger request_counts_on_delete after delete on generation_requests
    referencing old table as old_rows for each statement execute function request_counts_apply();
