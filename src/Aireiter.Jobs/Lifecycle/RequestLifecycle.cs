using System.ComponentModel.DataAnnotations.Schema;
using System.Text.Json.Nodes;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Lifecycle;

/// <summary>
/// The request state machine: the only writer of <c>generation_requests</c> and <c>request_events</c>, through
/// <see cref="JobsDbContext"/>. Each edge of <see cref="LifecycleEdges.All"/> is one method here, named for what
/// happened, and one statement: the row moves only from the states the edge comes from (and, for a row a node works
/// on, only while that node holds its lease), and its event row is written in the same statement, so a change and its
/// history commit together or not at all. An edge returns whether (or how many) rows moved: false means someone else
/// moved the row first, and the caller's work on it is over.
/// <para>
/// Besides the edges, the lease operations that change no state: claiming rows to poll, renewing leases, writing the
/// next poll time, and storing new requests as queued.
/// </para>
/// </summary>
public sealed class RequestLifecycle(IDbContextFactory<JobsDbContext> contexts, IOptions<ClusterOptions> cluster)
{
    // The two edges every request takes, written many rows to a statement (see GroupCommit).
    private readonly GroupCommit<ToRunningMove> _toRunning = new(moves => WriteToRunning(contexts, cluster.Value.NodeId, moves), m => m.Id);
    private readonly GroupCommit<SuccessMove> _successes = new(moves => WriteSuccesses(contexts, cluster.Value.NodeId, moves), m => m.Id);

    private string Node => cluster.Value.NodeId;

    // ---- Submitting ------------------------------------------------------------------------------------------------

    /// <summary>
    /// queued → submitting: up to <paramref name="limit"/> due rows, highest priority first, leased to this node
    /// until <paramref name="leaseUntil"/>. Runs in the caller's transaction (the claim round's, under the limit lock).
    /// </summary>
    public async Task<IReadOnlyList<ClaimedRequest>> ClaimForSubmitAsync(JobsDbContext db, SubmitFilter filter, int limit,
        DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        return await db.QueryAsync(LifecycleSql.ClaimForSubmit, ReadClaim, cancellationToken,
            Text("node", Node), Time("lease", leaseUntil), Time("now", now), Int("limit", limit), Text("model", filter.Model),
            Array("excluded_models", NpgsqlDbType.Text, filter.ExcludedModels),
            Array("held_batches", NpgsqlDbType.Bigint, filter.HeldBatches));
    }

    /// <summary>submitting → running: the upstream accepted the task; first poll at <paramref name="firstPollAt"/>.</summary>
    public Task<bool> SubmittedAsync(long id, DateTimeOffset now, string? upstreamTaskId, decimal? estimatedCredits, DateTimeOffset deadline,
        DateTimeOffset firstPollAt, CancellationToken cancellationToken) =>
        _toRunning.WriteAsync(new ToRunningMove(id, now, upstreamTaskId, estimatedCredits, now, deadline, firstPollAt, "submitted",
            upstreamTaskId is null ? null : $"task {upstreamTaskId}"), cancellationToken);

    /// <summary>
    /// submitting → running: the upstream already had the task (an earlier submit did land), so it is taken as ours,
    /// not sent again, and polled now.
    /// </summary>
    public Task<bool> AdoptedAsync(long id, DateTimeOffset now, string? upstreamTaskId, DateTimeOffset submittedAt, DateTimeOffset deadline,
        string detail, CancellationToken cancellationToken) =>
        _toRunning.WriteAsync(new ToRunningMove(id, now, upstreamTaskId, null, submittedAt, deadline, now, "adopted", Truncate(detail)),
            cancellationToken);

    /// <summary>
    /// submitting → queued, due at <paramref name="dueAt"/>: no clear answer, or the upstream asked us to slow down.
    /// <paramref name="countAttempt"/> false gives the claim's attempt back (nothing was sent, only asked).
    /// </summary>
    public Task<bool> RetryLaterAsync(long id, DateTimeOffset now, DateTimeOffset dueAt, string errorKind, string? message, string detail,
        bool countAttempt, CancellationToken cancellationToken) =>
        MovedAsync(LifecycleSql.BackToQueue, cancellationToken, Id(id), Time("now", now), Time("due_at", dueAt), Text("error_kind", errorKind),
            Text("error_message", message), Flag("count_attempt", countAttempt), Text("reason", "retry_later"), Text("detail", Truncate(detail)),
            Text("node", Node));

    /// <summary>
    /// submitting → queued, due now, while submitting is paused for the cluster (<paramref name="pauseReason"/>). An account
    /// fault is not the request's: the attempt does not count.
    /// </summary>
    public Task<bool> PausedAsync(long id, DateTimeOffset now, string pauseReason, string? message, CancellationToken cancellationToken) =>
        MovedAsync(LifecycleSql.BackToQueue, cancellationToken, Id(id), Time("now", now), Time("due_at", now), Text("error_kind", pauseReason),
            Text("error_message", message), Flag("count_attempt", false), Text("reason", "paused"), Text("detail", Truncate(message)),
            Text("node", Node));

    /// <summary>
    /// submitting → failed: the upstream refused the request (<c>invalid_request</c>, <c>content_rejected</c>) or it was
    /// given up after the attempts allowed (<c>gave_up</c>); <paramref name="kind"/> is both the error kind and the reason.
    /// </summary>
    public Task<bool> GaveUpAsync(long id, DateTimeOffset now, string kind, string? message, CancellationToken cancellationToken) =>
        MovedAsync(LifecycleSql.GaveUp, cancellationToken, Id(id), Time("now", now), Text("reason", kind), Text("detail", Truncate(message)),
            Text("node", Node));

    /// <summary>
    /// submitting → queued, due at <paramref name="dueAt"/>, for every submit whose lease ran out: its node died, stalled or
    /// lost the database. The next claim asks the upstream first (the attempt was counted).
    /// </summary>
    public Task<int> LeaseExpiredAsync(DateTimeOffset now, DateTimeOffset dueAt, CancellationToken cancellationToken) =>
        ExecuteAsync(LifecycleSql.LeaseExpired, cancellationToken, Time("now", now), Time("due_at", dueAt), Text("node", Node));

    /// <summary>On a graceful stop: every row this node holds goes back at once (submits to queued) instead of waiting for its lease.</summary>
    public async Task<int> HandedBackAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var handedBack = await db.QueryAsync(LifecycleSql.HandedBack, r => r.GetInt32(r.GetOrdinal("handed_back")), cancellationToken,
            Time("now", now), Text("node", Node));
        return handedBack.Single();
    }

    // ---- Polling ---------------------------------------------------------------------------------------------------

    /// <summary>running → succeeded, with its outputs (queued for download when <paramref name="downloadOutputs"/>).</summary>
    public Task<bool> CompletedAsync(long id, DateTimeOffset now, decimal? creditsUsed, IReadOnlyList<string> outputUrls, bool downloadOutputs,
        string detail, CancellationToken cancellationToken) =>
        Succeeded(id, RequestState.Running, "completed", now, creditsUsed, outputUrls, downloadOutputs, detail, cancellationToken);

    /// <summary>running → failed: the upstream reports the task failed.</summary>
    public Task<bool> FailedAsync(long id, DateTimeOffset now, decimal? creditsUsed, string message, CancellationToken cancellationToken) =>
        UpstreamFailed(id, RequestState.Running, "upstream_failed", now, creditsUsed, message, cancellationToken);

    /// <summary>
    /// running → timed_out at the deadline. It is still asked about until <paramref name="reconcileUntil"/> (next at
    /// <paramref name="nextCheckAt"/>, or never), so a late result and its credits are recorded.
    /// </summary>
    public Task<bool> TimedOutAsync(long id, DateTimeOffset now, DateTimeOffset reconcileUntil, DateTimeOffset? nextCheckAt, DateTimeOffset? polledAt,
        string message, CancellationToken cancellationToken) =>
        MovedAsync(LifecycleSql.TimedOut, cancellationToken, Id(id), Time("now", now), Time("reconcile_until", reconcileUntil),
            Time("due_at", nextCheckAt), Time("polled_at", polledAt), Text("detail", Truncate(message)), Text("node", Node));

    /// <summary>timed_out → succeeded or failed: the result came after the deadline (flagged late; its credits are kept).</summary>
    public Task<bool> LateResultAsync(long id, DateTimeOffset now, bool succeeded, decimal? creditsUsed, IReadOnlyList<string> outputUrls,
        bool downloadOutputs, string detail, CancellationToken cancellationToken) =>
        succeeded
            ? Succeeded(id, RequestState.TimedOut, "completed_late", now, creditsUsed, outputUrls, downloadOutputs, detail, cancellationToken)
            : UpstreamFailed(id, RequestState.TimedOut, "failed_late", now, creditsUsed, detail, cancellationToken);

    /// <summary>
    /// running → running, due now: a callback said the task changed. Only a row no node is polling, and only sooner,
    /// never later. No event: nothing happened to the request yet.
    /// </summary>
    public async Task<bool> PollNowAsync(string sentOutTaskId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var due = await db.Requests
            .Where(r => (r.OutTaskId == sentOutTaskId || r.UpstreamOutTaskId == sentOutTaskId) && r.State == RequestState.Running
                        && r.LeaseOwner == null && r.DueAt > now)
            .ExecuteUpdateAsync(set => set.SetProperty(r => r.DueAt, now), cancellationToken);
        if (due > 0)
        {
            await db.Database.ExecuteSqlRawAsync(LifecycleSql.WakePollers, cancellationToken);
        }

        return due > 0;
    }

    // ---- Operators -------------------------------------------------------------------------------------------------

    /// <summary>
    /// failed | timed_out → queued: each gets a fresh upstream task under a new id (<see cref="OutTaskIds.ForRetry"/>),
    /// since its old out_task_id may be known (and billed) upstream. Its outputs are dropped, its batch is open again,
    /// and the old task's credits go into the event. Returns how many moved.
    /// </summary>
    public async Task<int> RetriedAsync(IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var retryable = await db.Requests.AsNoTracking()
            .Where(r => ids.Contains(r.Id) && (r.State == RequestState.Failed || r.State == RequestState.TimedOut))
            .Select(r => new { r.Id, r.OutTaskId, r.Retries })
            .ToListAsync(cancellationToken);
        if (retryable.Count == 0)
        {
            return 0;
        }

        return await db.Database.ExecuteSqlRawAsync(LifecycleSql.Retried, [
            Array("ids", NpgsqlDbType.Bigint, retryable.ConvertAll(r => r.Id)),
            Array("retries", NpgsqlDbType.Integer, retryable.ConvertAll(r => r.Retries)),
            Array("sent_out_task_ids", NpgsqlDbType.Text, retryable.ConvertAll(r => OutTaskIds.ForRetry(r.OutTaskId, r.Retries + 1))),
            Time("now", now)], cancellationToken);
    }

    /// <summary>
    /// queued | running → cancelled, for rows no node is working on this moment. Queued ones are never sent; running
    /// ones stop being polled (the upstream has no cancel, so they may still be billed).
    /// </summary>
    public async Task<CancelledCounts> CancelledAsync(IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var counts = await db.Database.SqlQueryRaw<CancelledCounts>(LifecycleSql.Cancelled,
                Array("ids", NpgsqlDbType.Bigint, ids), Time("now", now))
            .ToListAsync(cancellationToken);
        return counts.Single();
    }

    // ---- Leases and new rows (no state change) ---------------------------------------------------------------------

    /// <summary>
    /// Claims up to <paramref name="limit"/> due rows in <paramref name="state"/> (running, or timed_out while
    /// reconciling) for polling, leased until <paramref name="leaseUntil"/>: if this node dies, the row is due again
    /// when the lease runs out.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedRequest>> ClaimForPollAsync(RequestState state, int limit, DateTimeOffset now,
        DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.QueryAsync(LifecycleSql.ClaimForPoll, ReadClaim, cancellationToken,
            Text("node", Node), Time("lease", leaseUntil), Time("now", now), Text("state", state.ToStorage()), Int("limit", limit));
    }

    /// <summary>The earliest due time of an unleased row in <paramref name="state"/>, so a loop can sleep exactly until then.</summary>
    public async Task<DateTimeOffset?> NextDueAsync(RequestState state, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Asked after nearly every claim round of every loop: a plain command, like the claims themselves.
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var due = await db.QueryAsync(LifecycleSql.NextDue, r => r.IsDBNull(0) ? (DateTimeOffset?)null : r.GetFieldValue<DateTimeOffset>(0),
            cancellationToken, Text("state", state.ToStorage()), Time("now", now));
        return due.Single();
    }

    /// <summary>
    /// Writes the next poll time of rows this node holds (still in their state) and gives their leases back. Returns
    /// the ids written; a row missing from it was no longer this node's.
    /// </summary>
    public async Task<HashSet<long>> ReschedulePollsAsync(IReadOnlyList<PollReschedule> polls, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var written = await db.QueryAsync(LifecycleSql.ReschedulePolls, ReadId, cancellationToken,
            Array("ids", NpgsqlDbType.Bigint, polls.Select(p => p.Id)),
            Array("states", NpgsqlDbType.Text, polls.Select(p => p.State.ToStorage())),
            Array("dues", NpgsqlDbType.TimestampTz, polls.Select(p => p.DueAt)),
            Array("polled", NpgsqlDbType.TimestampTz, polls.Select(p => p.PolledAt)),
            Text("node", Node));
        return [.. written];
    }

    /// <summary>A timed-out task whose reconciliation window is over: nothing more will be asked (it stays timed out).</summary>
    public async Task<bool> StopReconcilingAsync(long id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var node = Node;
        return await db.Requests
            .Where(r => r.Id == id && r.State == RequestState.TimedOut && r.LeaseOwner == node)
            .ExecuteUpdateAsync(set => set
                .SetProperty(r => r.DueAt, (DateTimeOffset?)null)
                .SetProperty(r => r.LeaseOwner, (string?)null)
                .SetProperty(r => r.LeaseExpiresAt, (DateTimeOffset?)null), cancellationToken) == 1;
    }

    /// <summary>
    /// Extends the leases of rows this node works on. Returns the ids it still holds: any other was taken over (its
    /// lease had run out) or finished, and its work must stop.
    /// </summary>
    public async Task<HashSet<long>> RenewAsync(IReadOnlyCollection<long> ids, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var held = await db.QueryAsync(LifecycleSql.Renew, ReadId, cancellationToken,
            Array("ids", NpgsqlDbType.Bigint, ids), Time("lease", leaseUntil), Text("node", Node));
        return [.. held];
    }

    /// <summary>
    /// Stores new requests as queued, in the caller's transaction. Returns the ids of those stored, by out_task_id: one
    /// already present (or repeated within <paramref name="rows"/>) is not stored again and is missing from it.
    /// Creation writes no event row: a request's timeline starts at its created_at, which keeps an import to one row
    /// per request.
    /// </summary>
    public static async Task<Dictionary<string, long>> InsertQueuedAsync(JobsDbContext db, IReadOnlyList<(NewRequest Request, string OutTaskId)> rows,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var stored = await db.QueryAsync(LifecycleSql.InsertQueued, r => (Id: r.GetInt64(r.GetOrdinal("id")), OutTaskId: r.GetString(r.GetOrdinal("out_task_id"))),
                cancellationToken,
                Array("out_task_ids", NpgsqlDbType.Text, rows.Select(r => r.OutTaskId)),
                Array("batch_ids", NpgsqlDbType.Bigint, rows.Select(r => r.Request.BatchId)),
                Array("item_keys", NpgsqlDbType.Text, rows.Select(r => r.Request.Key)),
                Array("models", NpgsqlDbType.Text, rows.Select(r => r.Request.Model)),
                Array("params", NpgsqlDbType.Jsonb, rows.Select(r => r.Request.Params.ToJsonString())),
                Array("metadata", NpgsqlDbType.Jsonb, rows.Select(r => r.Request.Metadata?.ToJsonString())),
                Array("priorities", NpgsqlDbType.Smallint, rows.Select(r => r.Request.Priority)),
                Array("not_before", NpgsqlDbType.TimestampTz, rows.Select(r => r.Request.NotBefore)),
                Time("now", now));
        return stored.ToDictionary(r => r.OutTaskId, r => r.Id, StringComparer.Ordinal);
    }

    /// <summary>Wakes every node's submitter when the transaction open on <paramref name="db"/> commits (new rows are due).</summary>
    public static Task WakeSubmittersAsync(JobsDbContext db, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlRawAsync(LifecycleSql.WakeSubmitters, cancellationToken);

    /// <summary>Deletes up to <paramref name="limit"/> events older than <paramref name="cutoff"/>; returns how many.</summary>
    public Task<int> ForgetEventsAsync(DateTimeOffset cutoff, int limit, CancellationToken cancellationToken) =>
        ExecuteAsync(LifecycleSql.ForgetEvents, cancellationToken, Time("cutoff", cutoff), Int("limit", limit));

    /// <summary>Deletes the per-minute completion counters older than <paramref name="cutoff"/>; returns how many rows.</summary>
    public Task<int> ForgetCompletionCountsAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        ExecuteAsync(LifecycleSql.ForgetCompletionCounts, cancellationToken, Time("cutoff", cutoff));

    // ---- Statements ------------------------------------------------------------------------------------------------

    private Task<bool> Succeeded(long id, RequestState from, string reason, DateTimeOffset now, decimal? creditsUsed,
        IReadOnlyList<string> outputUrls, bool downloadOutputs, string detail, CancellationToken cancellationToken) =>
        _successes.WriteAsync(new SuccessMove(id, from, reason, now, creditsUsed, outputUrls, downloadOutputs, Truncate(detail)), cancellationToken);

    private static async Task<HashSet<long>> WriteToRunning(IDbContextFactory<JobsDbContext> contexts, string node, IReadOnlyList<ToRunningMove> moves)
    {
        await using var db = await contexts.CreateDbContextAsync();
        return [.. await db.QueryAsync(LifecycleSql.ToRunning, ReadId, CancellationToken.None,
            Array("ids", NpgsqlDbType.Bigint, moves.Select(m => m.Id)),
            Array("at", NpgsqlDbType.TimestampTz, moves.Select(m => m.At.ToUniversalTime())),
            Array("upstream_task_ids", NpgsqlDbType.Text, moves.Select(m => m.UpstreamTaskId)),
            Array("estimated_credits", NpgsqlDbType.Numeric, moves.Select(m => m.EstimatedCredits)),
            Array("submitted_at", NpgsqlDbType.TimestampTz, moves.Select(m => m.SubmittedAt.ToUniversalTime())),
            Array("deadline_at", NpgsqlDbType.TimestampTz, moves.Select(m => m.Deadline.ToUniversalTime())),
            Array("due_at", NpgsqlDbType.TimestampTz, moves.Select(m => m.DueAt.ToUniversalTime())),
            Array("reasons", NpgsqlDbType.Text, moves.Select(m => m.Reason)),
            Array("details", NpgsqlDbType.Text, moves.Select(m => m.Detail)),
            Text("node", node))];
    }

    private static async Task<HashSet<long>> WriteSuccesses(IDbContextFactory<JobsDbContext> contexts, string node, IReadOnlyList<SuccessMove> moves)
    {
        // The outputs side by side: a row's id and position beside each of its URLs.
        var outputs = moves.SelectMany(m => m.OutputUrls.Select((url, position) => (m.Id, Position: position, Url: url))).ToList();
        await using var db = await contexts.CreateDbContextAsync();
        return [.. await db.QueryAsync(LifecycleSql.Completed, ReadId, CancellationToken.None,
            Array("ids", NpgsqlDbType.Bigint, moves.Select(m => m.Id)),
            Array("from_states", NpgsqlDbType.Text, moves.Select(m => m.From.ToStorage())),
            Array("at", NpgsqlDbType.TimestampTz, moves.Select(m => m.At.ToUniversalTime())),
            Array("credits_used", NpgsqlDbType.Numeric, moves.Select(m => m.CreditsUsed)),
            Array("download", NpgsqlDbType.Boolean, moves.Select(m => m.Download)),
            Array("reasons", NpgsqlDbType.Text, moves.Select(m => m.Reason)),
            Array("details", NpgsqlDbType.Text, moves.Select(m => m.Detail)),
            Array("output_ids", NpgsqlDbType.Bigint, outputs.Select(o => o.Id)),
            Array("output_positions", NpgsqlDbType.Integer, outputs.Select(o => o.Position)),
            Array("output_urls", NpgsqlDbType.Text, outputs.Select(o => o.Url)),
            Text("node", node))];
    }

    /// <summary>One submitting → running move, waiting for its group's statement.</summary>
    private sealed record ToRunningMove(long Id, DateTimeOffset At, string? UpstreamTaskId, decimal? EstimatedCredits, DateTimeOffset SubmittedAt,
        DateTimeOffset Deadline, DateTimeOffset DueAt, string Reason, string? Detail);

    /// <summary>One running | timed_out → succeeded move, with its outputs, waiting for its group's statement.</summary>
    private sealed record SuccessMove(long Id, RequestState From, string Reason, DateTimeOffset At, decimal? CreditsUsed, IReadOnlyList<string> OutputUrls,
        bool Download, string? Detail);

    private Task<bool> UpstreamFailed(long id, RequestState from, string reason, DateTimeOffset now, decimal? creditsUsed, string message,
        CancellationToken cancellationToken) =>
        MovedAsync(LifecycleSql.Failed, cancellationToken, Id(id), Text("from", from.ToStorage()), Time("now", now),
            Flag("late", from == RequestState.TimedOut), Money("credits_used", creditsUsed), Text("reason", reason),
            Text("detail", Truncate(message)), Text("node", Node));

    /// <summary>Runs a one-row edge; true when the row moved (its event was written).</summary>
    private async Task<bool> MovedAsync(string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters) =>
        await ExecuteAsync(sql, cancellationToken, parameters) == 1;

    private async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.ExecuteAsync(sql, cancellationToken, parameters);
    }

    private static long ReadId(NpgsqlDataReader reader) => reader.GetInt64(reader.GetOrdinal("id"));

    /// <summary>A claimed row, read by column name. A submit claim carries params and metadata; a poll claim, the previous poll's time.</summary>
    private static ClaimedRequest ReadClaim(NpgsqlDataReader reader)
    {
        return new ClaimedRequest(reader.GetInt64(reader.GetOrdinal("id")), reader.GetStringOrNull("out_task_id")!, reader.GetStringOrNull("model")!,
            RequestStates.FromStorage(reader.GetStringOrNull("state")!), reader.GetInt32(reader.GetOrdinal("attempts")),
            reader.GetValueOrNull<DateTimeOffset>("submitted_at"), reader.GetValueOrNull<DateTimeOffset>("deadline_at"),
            reader.GetValueOrNull<DateTimeOffset>("reconcile_until"), reader.GetValueOrNull<decimal>("estimated_credits"),
            reader.GetStringOrNull("sent_out_task_id")!)
        {
            Params = reader.GetStringOrNull("params") is { } json ? JsonNode.Parse(json) as JsonObject : null,
            Metadata = reader.GetStringOrNull("metadata") is { } meta ? JsonNode.Parse(meta) as JsonObject : null,
            DueAt = reader.GetValueOrNull<DateTimeOffset>("due_at")!.Value,
            BatchId = reader.GetValueOrNull<long>("batch_id"),
            PolledAt = reader.GetValueOrNull<DateTimeOffset>("polled_at"),
            LeaseExpiresAt = reader.GetValueOrNull<DateTimeOffset>("lease_expires_at")!.Value,
        };
    }

    private static NpgsqlParameter Array<T>(string name, NpgsqlDbType type, IEnumerable<T> values) =>
        new(name, NpgsqlDbType.Array | type) { Value = values.ToArray() };

    private static NpgsqlParameter Id(long id) => new("id", NpgsqlDbType.Bigint) { Value = id };

    private static NpgsqlParameter Int(string name, int value) => new(name, NpgsqlDbType.Integer) { Value = value };

    private static NpgsqlParameter Flag(string name, bool value) => new(name, NpgsqlDbType.Boolean) { Value = value };

    private static NpgsqlParameter Text(string name, string? value) => new(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value };

    private static NpgsqlParameter Time(string name, DateTimeOffset? value) =>
        new(name, NpgsqlDbType.TimestampTz) { Value = value is { } at ? at.ToUniversalTime() : DBNull.Value };

    private static NpgsqlParameter Money(string name, decimal? value) => new(name, NpgsqlDbType.Numeric) { Value = (object?)value ?? DBNull.Value };

    private static string? Truncate(string? text) => text is { Length: > 2000 } ? text[..2000] + "…" : text;
}

/// <summary>Which queued rows a submit claim may take: one model only, or none of some models, and none of some batches.</summary>
public sealed record SubmitFilter(string? Model, IReadOnlyCollection<string> ExcludedModels, IReadOnlyCollection<long> HeldBatches);

/// <summary>How many requests a cancel stopped before they were sent (queued), and after (running).</summary>
public sealed class CancelledCounts
{
    [Column("queued")] public int Queued { get; init; }
    [Column("running")] public int Running { get; init; }
}
