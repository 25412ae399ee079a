-- 0012: the prompt search, indexed.
--
-- The request list's prompt filter is a case-insensitive substring match. Without an index it read every row: 589 ms
-- at 1,000,000 requests. A trigram index (pg_trgm, a trusted extension shipped with PostgreSQL) serves ILIKE '%…%'
-- with the same results.
--
-- The prompts are indexed in a table of their own, written once when a request is inserted and never updated. On the
-- request row the index would be rewritten by every state change: a state change is not a heap-only update (it moves
-- the row in the state index), so PostgreSQL adds a new entry to every index of the table, and a prompt's trigram
-- entry is some forty keys, three or four times per request.
create extension if not exists pg_trgm;

create table request_prompts (
    request_id  bigint primary key,
    prompt      text   not null
);

create index ix_request_prompts_trigrams on request_prompts using gin (prompt gin_trgm_ops);

-- Kept by statement-level triggers, like the counters: every way a request is inserted (the engine, an import, an
-- operator's SQL) is covered, and a bulk insert writes its prompts in one statement. No foreign key: PostgreSQL checks
-- one row at a time (measured at about 40 % of an import's insert for the batch's key), and the delete trigger keeps
-- the table in step.
create function request_prompts_apply() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into request_prompts (request_id, prompt)
        select id, params ->> 'prompt' from new_rows where params ->> 'prompt' is not null;
    else
        delete from request_prompts where request_id in (select id from old_rows);
    end if;
    return null;
end
$$;

create trigger request_prompts_on_insert after insert on generation_requests
    referencing new table as new_rows for each statement execute function request_prompts_apply();
create trigger request_prompts_on_delete after delete on generation_requests
    referencing old table as old_rows for each statement execute function request_prompts_apply();

insert into request_prompts (request_id, prompt)
select id, params ->> 'prompt' from generation_requests where params ->> 'prompt' is not null;

analyze request_prompts;
