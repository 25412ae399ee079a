-- 0006: each node reports how late its polls start (actual query time minus due time) over its last
-- heartbeat interval, so the dashboard shows a node falling behind before any deadline is missed.

alter table cluster_nodes
    add column polls_last_interval   integer,
    add column poll_lateness_p50_ms  integer,
    add column poll_lateness_p99_ms  integer,
    add column poll_lateness_max_ms  integer;
