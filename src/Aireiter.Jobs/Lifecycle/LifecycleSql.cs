namespace Aireiter.Jobs.Lifecycle;

/// <summary>
/// Every statement that writes <c>generation_requests</c> or <c>request_events</c>, one named statement per
/// operation of <see cref="RequestLifecycle"/>, run on a <see cref="Storage.JobsDbContext"/>'s connection and transaction
/// (<see cref="Storage.ContextCommands"/>). They are SQL rather than LINQ where LINQ cannot say them:
/// a state change and its event row commit in one statement (a CTE), claims lock with <c>FOR UPDATE SKIP LOCKED</c>,
/// and grouped writes read their rows from <c>unnest</c>.
/// <para>
/// The shape of a move: an UPDATE whose WHERE names the state(s) it may come from and, for a row a node works on,
/// that node's lease, so a node that lost its lease cannot overwrite the new owner; then the INSERT of the event from
/// the rows it changed. Executed as a command, its result is the number of events written, which is the number of
/// rows moved. The two edges every request takes (to running, to succeeded) move many rows a statement, from arrays,
/// and return the ids moved (see <see cref="GroupCommit{T}"/>). Parameters are named; the statement's text never changes between calls. (The operator's edges run
/// through EF's <c>ExecuteSqlRaw</c> / <c>SqlQueryRaw</c>, which format a statement like a format string: no statement
/// here may hold a literal brace.)
/// </para>
/// </summary>
internal static class LifecycleSql
{
    /// <summary>queued → submitting: due rows, in priority order, taken under this node's lease.</summary>
    public const string ClaimForSubmit = """
        with claimed as (
            update generation_requests r
            set state = 'submitting', lease_owner = @node, lease_expires_at = @lease, attempts = r.attempts + 1, updated_at = @now
            from (
                select id from generation_requests
                where state = 'queued' and due_at <= @now
                  and (@model::text is null or model = @model)
                  and model <> all(@excluded_models)
                  and (batch_id is null or batch_id <> all(@held_batches))
                order by priority desc, due_at, id
                limit @limit
                for update skip locked
            ) q
            where r.id = q.id
            returning r.id, r.out_task_id, r.model, r.state, r.attempts, r.submitted_at, r.deadline_at, r.reconcile_until,
                      r.estimated_credits, coalesce(r.upstream_out_task_id, r.out_task_id) as sent_out_task_id, r.batch_id,
                      r.params::text as params, r.metadata::text as metadata, r.priority, r.due_at, null::timestamptz as polled_at,
                      r.lease_expires_at
        ), events as (
            insert into request_events (request_id, at, from_state, to_state, reason, node)
            select id, @now, 'queued', 'submitting', 'claimed', @node from claimed
        )
        select id, out_task_id, model, state, attempts, submitted_at, deadline_at, reconcile_until, estimated_credits, sent_out_task_id,
               batch_id, params, metadata, due_at, polled_at, lease_expires_at
        from claimed order by priority desc, due_at, id
        """;

    /// <summary>
    /// submitting → running, for many rows at once (a group commit): each accepted upstream (submitted) or found there
    /// already (adopted). Rows are locked in id order, as <see cref="Renew"/> locks them. Returns the ids moved.
    /// </summary>
    public const string ToRunning = """
        with moves as (
            select * from unnest(@ids, @at, @upstream_task_ids, @estimated_credits, @submitted_at, @deadline_at, @due_at, @reasons, @details)
                as m(id, at, upstream_task_id, estimated_credits, submitted_at, deadline_at, due_at, reason, detail)
        ), held as (
            select id from generation_requests where id = any(@ids) and state = 'submitting' and lease_owner = @node order by id for update
        ), changed as (
            update generation_requests r
            set state = 'running', updated_at = m.at, upstream_task_id = m.upstream_task_id,
                estimated_credits = coalesce(m.estimated_credits, r.estimated_credits), submitted_at = m.submitted_at,
                deadline_at = m.deadline_at, due_at = m.due_at, error_kind = null, error_message = null,
                lease_owner = null, lease_expires_at = null
            from moves m, held h
            where r.id = m.id and r.id = h.id and r.state = 'submitting' and r.lease_owner = @node
            returning r.id, m.at, m.reason, m.detail
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, at, 'submitting', 'running', reason, detail, @node from changed
        returning request_id as id
        """;

    /// <summary>
    /// submitting → queued, due at @due_at: to be tried later (retry later), or held while submitting is paused.
    /// An attempt that did not count (nothing was sent, or the account was at fault) is given back.
    /// </summary>
    public const string BackToQueue = """
        with changed as (
            update generation_requests
            set state = 'queued', updated_at = @now, due_at = @due_at, error_kind = @error_kind, error_message = @error_message,
                attempts = case when @count_attempt then attempts else greatest(attempts - 1, 0) end,
                lease_owner = null, lease_expires_at = null
            where id = @id and state = 'submitting' and lease_owner = @node
            returning id
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, @now, 'submitting', 'queued', @reason, @detail, @node from changed
        """;

    /// <summary>submitting → failed: refused upstream, or given up after the attempts allowed.</summary>
    public const string GaveUp = """
        with changed as (
            update generation_requests
            set state = 'failed', updated_at = @now, completed_at = @now, error_kind = @reason, error_message = @detail,
                due_at = null, lease_owner = null, lease_expires_at = null
            where id = @id and state = 'submitting' and lease_owner = @node
            returning id
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, @now, 'submitting', 'failed', @reason, @detail, @node from changed
        """;

    /// <summary>
    /// running → succeeded (completed), or timed_out → succeeded (a late result), for many rows at once (a group
    /// commit): each with its outputs (@output_ids, @output_positions, @output_urls side by side), queued for download
    /// where @download says so. Rows are locked in id order, as <see cref="Renew"/> locks them. Returns the ids moved.
    /// </summary>
    public const string Completed = """
        with moves as (
            select * from unnest(@ids, @from_states, @at, @credits_used, @download, @reasons, @details)
                as m(id, from_state, at, credits_used, download, reason, detail)
        ), held as (
            select id from generation_requests where id = any(@ids) and lease_owner = @node order by id for update
        ), changed as (
            update generation_requests r
            set state = 'succeeded', updated_at = m.at, completed_at = m.at, completed_late = m.from_state = 'timed_out',
                credits_used = m.credits_used, polled_at = m.at, due_at = null, error_kind = null, error_message = null,
                lease_owner = null, lease_expires_at = null
            from moves m, held h
            where r.id = m.id and r.id = h.id and r.state = m.from_state and r.lease_owner = @node
            returning r.id, m.from_state, m.at, m.download, m.reason, m.detail
        ), outputs as (
            insert into request_outputs (request_id, position, url, download_state, download_due_at, created_at)
            select c.id, o.position, o.url, case when c.download then 'pending' else 'none' end, case when c.download then c.at end, c.at
            from changed c join unnest(@output_ids, @output_positions, @output_urls) as o(request_id, position, url) on o.request_id = c.id
            on conflict (request_id, position) do nothing
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, at, from_state, 'succeeded', reason, detail, @node from changed
        returning request_id as id
        """;

    /// <summary>running → failed (the upstream failed it), or timed_out → failed (a late failure).</summary>
    public const string Failed = """
        with changed as (
            update generation_requests
            set state = 'failed', updated_at = @now, completed_at = @now, completed_late = @late, credits_used = @credits_used,
                polled_at = @now, error_kind = 'upstream_failed', error_message = @detail,
                due_at = null, lease_owner = null, lease_expires_at = null
            where id = @id and state = @from and lease_owner = @node
            returning id
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, @now, @from, 'failed', @reason, @detail, @node from changed
        """;

    /// <summary>running → timed_out at the deadline: still asked about until @reconcile_until (due again at @due_at, or never).</summary>
    public const string TimedOut = """
        with changed as (
            update generation_requests
            set state = 'timed_out', updated_at = @now, completed_at = @now, reconcile_until = @reconcile_until, due_at = @due_at,
                polled_at = @polled_at, error_kind = 'timed_out', error_message = @detail, lease_owner = null, lease_expires_at = null
            where id = @id and state = 'running' and lease_owner = @node
            returning id
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, @now, 'running', 'timed_out', 'deadline', @detail, @node from changed
        """;

    /// <summary>
    /// submitting → queued, due at @due_at, for every submit whose lease ran out (its node died or stalled); any node
    /// may do it. A row another statement has locked (a renewal, a grouped edge) is skipped, not waited for: it is
    /// being worked on right now, and the next sweep sees it again if its lease is still out. Never waiting also means
    /// the sweep cannot deadlock with the grouped edges, which lock many rows in id order.
    /// </summary>
    public const string LeaseExpired = """
        with expired as (
            update generation_requests r
            set state = 'queued', due_at = @due_at, updated_at = @now, lease_owner = null, lease_expires_at = null
            from (
                select id from generation_requests
                where state = 'submitting' and lease_expires_at < @now
                order by id
                for update skip locked
            ) lapsed
            where r.id = lapsed.id
            returning r.id
        )
        insert into request_events (request_id, at, from_state, to_state, reason, node)
        select id, @now, 'submitting', 'queued', 'lease_expired', @node from expired
        """;

    /// <summary>
    /// On a graceful stop, everything this node holds goes back at once: its submits to queued (an event each), its
    /// polls due now (no state change). Returns how many rows went back.
    /// </summary>
    public const string HandedBack = """
        with submits as (
            update generation_requests
            set state = 'queued', due_at = @now, updated_at = @now, lease_owner = null, lease_expires_at = null
            where lease_owner = @node and state = 'submitting'
            returning id
        ), events as (
            insert into request_events (request_id, at, from_state, to_state, reason, node)
            select id, @now, 'submitting', 'queued', 'node_stopping', @node from submits
        ), polls as (
            update generation_requests
            set due_at = @now, lease_owner = null, lease_expires_at = null
            where lease_owner = @node and state in ('running', 'timed_out')
            returning id
        )
        select (select count(*) from submits)::int + (select count(*) from polls)::int as handed_back
        """;

    /// <summary>
    /// failed | timed_out → queued, by an operator: a fresh upstream task under the id minted for it (@sent_out_task_ids),
    /// its previous outputs dropped, its batch open again. @retries is each row's count as read: a row retried meanwhile
    /// is left alone. The old task's credits go into the event.
    /// </summary>
    public const string Retried = """
        with target as (
            select g.id, g.state as before, g.credits_used as previous_credits,
                   coalesce(g.upstream_out_task_id, g.out_task_id) as previous_task, t.sent_out_task_id
            from unnest(@ids, @retries, @sent_out_task_ids) as t(id, retries, sent_out_task_id)
            join generation_requests g on g.id = t.id
            where g.retries = t.retries and g.state in ('failed', 'timed_out')
            for update of g
        ), retried as (
            update generation_requests r
            set state = 'queued', retries = r.retries + 1, attempts = 0, polls = 0, due_at = @now, updated_at = @now,
                upstream_out_task_id = t.sent_out_task_id,
                upstream_task_id = null, estimated_credits = null, credits_used = null, error_kind = null, error_message = null,
                submitted_at = null, deadline_at = null, completed_at = null, reconcile_until = null, completed_late = false,
                polled_at = null, lease_owner = null, lease_expires_at = null
            from target t
            where r.id = t.id
            returning r.id, r.batch_id, t.before, t.previous_credits, t.previous_task
        ), outputs as (
            delete from request_outputs where request_id in (select id from retried)
        ), reopened as (
            update batches set finished_at = null, summary = null where id in (select batch_id from retried)
        )
        insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
        select id, @now, before, 'queued', 'retried',
               'previous task ' || previous_task || ' used ' || coalesce(previous_credits::text, 'no') || ' credits', 'operator'
        from retried
        """;

    /// <summary>
    /// queued | running → cancelled, by an operator, for rows no node is working on right now. Returns how many were
    /// queued (never sent) and how many running (sent, may still be billed).
    /// </summary>
    public const string Cancelled = """
        with target as (
            select id, state from generation_requests
            where id = any(@ids) and state in ('queued', 'running') and lease_owner is null
            for update
        ), cancelled as (
            update generation_requests r
            set state = 'cancelled', due_at = null, updated_at = @now, completed_at = @now,
                error_kind = 'cancelled', error_message = 'Cancelled by an operator.'
            from target t
            where r.id = t.id
            returning r.id, t.state as before
        ), events as (
            insert into request_events (request_id, at, from_state, to_state, reason, node)
            select id, @now, before, 'cancelled', 'cancelled', 'operator' from cancelled
        )
        select (count(*) filter (where before = 'queued'))::int as queued, (count(*) filter (where before = 'running'))::int as running
        from cancelled
        """;

    /// <summary>
    /// Claims due rows in @state (running, or timed_out while reconciling) for polling. Writes only columns no index
    /// covers, so PostgreSQL makes it a heap-only update with no index entries to add. Returns the previous poll's
    /// time as polled_at (the claim itself has just overwritten the column).
    /// </summary>
    public const string ClaimForPoll = """
        update generation_requests r
        set lease_owner = @node, lease_expires_at = @lease, polls = r.polls + 1, polled_at = @now
        from (
            select id, due_at, polled_at from generation_requests
            where state = @state and due_at <= @now and (lease_expires_at is null or lease_expires_at < @now)
            order by due_at, id
            limit @limit
            for update skip locked
        ) due
        where r.id = due.id
        returning r.id, r.out_task_id, r.model, r.state, r.attempts, r.submitted_at, r.deadline_at, r.reconcile_until, r.estimated_credits,
                  coalesce(r.upstream_out_task_id, r.out_task_id) as sent_out_task_id, r.batch_id, null::text as params, null::text as metadata,
                  due.due_at, due.polled_at, r.lease_expires_at
        """;

    /// <summary>The earliest due time of an unleased row in @state (null: none), so a loop can sleep until then.</summary>
    public const string NextDue = """
        select min(due_at) as next_due from generation_requests
        where state = @state and (lease_expires_at is null or lease_expires_at < @now)
        """;

    /// <summary>
    /// The next poll time of many held rows (still in their state), their leases given back, in one statement. Rows are
    /// locked in id order, as <see cref="Renew"/> locks them, so the two never deadlock over a node's rows.
    /// </summary>
    public const string ReschedulePolls = """
        with held as (
            select id from generation_requests where id = any(@ids) and lease_owner = @node order by id for update
        )
        update generation_requests r set due_at = p.due, polled_at = p.polled, lease_owner = null, lease_expires_at = null
        from unnest(@ids, @states, @dues, @polled) as p(id, state, due, polled), held
        where r.id = p.id and r.id = held.id and r.state = p.state
        returning r.id
        """;

    /// <summary>The leases of rows this node works on, extended; returns those it still holds (locked in id order).</summary>
    public const string Renew = """
        with held as (
            select id from generation_requests where id = any(@ids) and lease_owner = @node order by id for update
        )
        update generation_requests r
        set lease_expires_at = @lease
        from held where r.id = held.id
        returning r.id
        """;

    /// <summary>
    /// New requests, queued: one statement per chunk, rows as arrays. A repeated out_task_id inserts nothing; the ids
    /// returned are those stored.
    /// </summary>
    public const string InsertQueued = """
        insert into generation_requests
            (out_task_id, batch_id, item_key, model, params, metadata, priority, state, not_before, due_at, created_at, updated_at)
        select out_task_id, batch_id, item_key, model, params, metadata, priority, 'queued', not_before,
               greatest(coalesce(not_before, @now), @now), @now, @now
        from unnest(@out_task_ids, @batch_ids, @item_keys, @models, @params, @metadata, @priorities, @not_before)
            as t(out_task_id, batch_id, item_key, model, params, metadata, priority, not_before)
        on conflict (out_task_id) do nothing
        returning id, out_task_id
        """;

    /// <summary>Wakes every node's poller (after <see cref="RequestLifecycle.PollNowAsync"/> made a poll due now).</summary>
    public const string WakePollers = "select pg_notify('" + Cluster.WakeSignals.PollChannel + "', '')";

    /// <summary>Wakes every node's submitter (notifications are sent when the transaction commits).</summary>
    public const string WakeSubmitters = "select pg_notify('" + Cluster.WakeSignals.SubmitChannel + "', '')";

    /// <summary>Events older than the retention, a slice at a time (a short transaction each).</summary>
    public const string ForgetEvents = """
        delete from request_events where id in (select id from request_events where at < @cutoff limit @limit)
        """;

    /// <summary>Per-minute completion counters older than the cutoff (the dashboard reads today's and the last hour's).</summary>
    public const string ForgetCompletionCounts = "delete from completion_counts where minute < @cutoff";
}
