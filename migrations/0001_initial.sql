-- 0001: the tables the request lifecycle needs.
--
-- The request row is the job: its state, its out_task_id, when it is next due and who holds it.
-- Workers claim due rows with FOR UPDATE SKIP LOCKED under a short lease, so every claim query
-- below has a partial index that holds only the rows it can ever return.

create table batches (
    id              bigint generated always as identity primary key,
    name            text        not null unique,
    source          text        not null default 'api'
                                check (source in ('api', 'file', 'schedule')),
    source_detail   text,
    credit_budget   numeric(14, 2),
    created_at      timestamptz not null default now(),
    finished_at     timestamptz,
    summary         jsonb
);

create table generation_requests (
    id                bigint generated always as identity primary key,
    -- The id the upstream knows the task by: given by the caller or derived from batch + key.
    -- (A bounded repeat like {1,64} makes PostgreSQL's regex engine ten times slower on bulk inserts: length is checked apart.)
    out_task_id       text        not null unique
                                  check (length(out_task_id) <= 64 and out_task_id ~ '^[A-Za-z0-9_-]+$'),
    batch_id          bigint      references batches (id),
    item_key          text,
    model             text        not null,
    params            jsonb       not null,
    metadata          jsonb,
    priority          smallint    not null default 0,
    state             text        not null
                                  check (state in ('queued', 'submitting', 'running', 'succeeded',
                                                   'failed', 'timed_out', 'cancelled')),
    not_before        timestamptz,
    -- When the row next needs work: a submit while queued, a poll while running or reconciling.
    -- Null once nothing more is to be done.
    due_at            timestamptz,
    lease_owner       text,
    lease_expires_at  timestamptz,
    attempts          integer     not null default 0,
    polls             integer     not null default 0,
    upstream_task_id  text,
    estimated_credits numeric(14, 2),
    credits_used      numeric(14, 2),
    error_kind        text,
    error_message     text,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    submitted_at      timestamptz,
    deadline_at       timestamptz,
    completed_at      timestamptz,
    -- After a time-out the task is still checked until this moment so late results and their credits are kept.
    reconcile_until   timestamptz,
    completed_late    boolean     not null default false
);

-- Claim queries: each index holds only the rows its query can return.
create index ix_requests_submit_due on generation_requests (priority desc, due_at, id)
    where state = 'queued';
create index ix_requests_poll_due on generation_requests (due_at, id)
    where state = 'running';
create index ix_requests_reconcile_due on generation_requests (due_at, id)
    where state = 'timed_out' and due_at is not null;
create index ix_requests_lease_expiry on generation_requests (lease_expires_at)
    where lease_owner is not null;

-- Dashboard and API reads: keyset pages newest first, filtered by state, model or batch.
create index ix_requests_created on generation_requests (created_at desc, id desc);
create index ix_requests_state_updated on generation_requests (state, updated_at desc, id desc);
create index ix_requests_batch_state on generation_requests (batch_id, state) where batch_id is not null;
-- Credits per day and in flight: completed rows by completion time.
create index ix_requests_completed on generation_requests (completed_at) where completed_at is not null;

create table request_outputs (
    request_id        bigint      not null references generation_requests (id) on delete cascade,
    position          integer     not null,
    url               text        not null,
    download_state    text        not null default 'none'
                                  check (download_state in ('none', 'pending', 'stored', 'failed')),
    download_attempts integer     not null default 0,
    download_due_at   timestamptz,
    download_error    text,
    content_type      text,
    size_bytes        bigint,
    sha256            text,
    stored_path       text,
    created_at        timestamptz not null default now(),
    downloaded_at     timestamptz,
    primary key (request_id, position)
);

create index ix_outputs_download_due on request_outputs (download_due_at)
    where download_state = 'pending';

-- A compact history: one row per state change, so a request's timeline can be shown with its errors.
create table request_events (
    id          bigint generated always as identity primary key,
    request_id  bigint      not null references generation_requests (id) on delete cascade,
    at          timestamptz not null default now(),
    from_state  text,
    to_state    text        not null,
    reason      text        not null,
    detail      text,
    node        text
);

create index ix_events_request on request_events (request_id, id);
create index ix_events_at on request_events (at);

-- Submitting stops for everyone while an account-level fault stands (bad key, no credits).
create table submit_pauses (
    reason      text        primary key
                            check (reason in ('unauthorized', 'insufficient_credits', 'operator')),
    message     text        not null,
    paused_at   timestamptz not null default now(),
    probe_at    timestamptz,
    paused_by   text
);

-- Every worker node announces itself and beats; the dashboard lists them.
create table cluster_nodes (
    node_id       text        primary key,
    host_name     text        not null,
    process_id    integer     not null,
    version       text        not null,
    started_at    timestamptz not null,
    heartbeat_at  timestamptz not null,
    stopped_at    timestamptz
);
