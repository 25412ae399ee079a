-- 0007: make a poll's claim a heap-only (HOT) update.
--
-- Measured with 10,000 tasks in flight: the poll claim, the one serial step of polling, took 11 ms for
-- 14 rows, because writing lease_owner and lease_expires_at (covered by ix_requests_lease_expiry) and
-- due_at made PostgreSQL add a new entry to every index of the table for every claimed row. A claim now
-- writes only the lease and the poll count, which no index covers, and leaves due_at alone; expired
-- submit leases are found through the state index (few rows are ever Submitting). Free room in each
-- page lets the new row version stay on the same page, which a heap-only update needs.

drop index ix_requests_lease_expiry;

alter table generation_requests set (fillfactor = 85);

-- A queue table: most rows in flight change every few seconds. Vacuum and analyze it after 2% of its rows
-- changed instead of PostgreSQL's 20% / 10%, so dead index entries do not pile up in front of the claim
-- scans and the planner learns soon after a big import that most rows are now running.
alter table generation_requests set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
