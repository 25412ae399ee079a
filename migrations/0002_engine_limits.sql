-- 0002: what the engine needs to hold limits across the whole cluster.

-- Submits are paced cluster-wide by handing out send slots 1/rate apart; this row remembers the next free one.
create table submit_rate (
    id          integer     primary key default 1 check (id = 1),
    next_slot   timestamptz not null
);

insert into submit_rate (id, next_slot) values (1, '-infinity');

-- In-flight counts per model (and the credits they may cost) for the limit checks before every claim.
create index ix_requests_in_flight on generation_requests (model) include (estimated_credits)
    where state in ('submitting', 'running');
