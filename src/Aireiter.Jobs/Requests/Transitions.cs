using System.Text.Json.Nodes;
using Aireiter.Jobs.Cluster;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Requests;

/// <summary>
/// Every write of the request lifecycle. Each state change is one statement: a conditional UPDATE
/// (expected state, and this node's lease) joined with the INSERT of its event row, so a change and its
/// history commit together or not at all, and a node that lost its lease cannot overwrite the new owner.
/// </summary>
public sealed class Transitions(NpgsqlDataSource dataSource, IOptions<ClusterOptions> cluster)
{
    private string Node => cluster.Value.NodeId;

    /// <summary>Fields to set besides state and updated_at, with their parameter values.</summary>
    public sealed class Changes
    {
        internal List<string> Sets { get; } = [];
        internal List<NpgsqlParameter> Parameters { get; } = [];

        public Changes Set(string column, object? value, NpgsqlDbType? type = null)
        {
            var name = $"p_{column}";
            Sets.Add($"{column} = @{name}");
            Parameters.Add(type is { } t ? new NpgsqlParameter(name, t) { Value = value ?? DBNull.Value } : new NpgsqlParameter(name, value ?? DBNull.Value));
            return this;
        }

        public Changes Raw(string assignment)
        {
            Sets.Add(assignment);
            return this;
        }
    }

    /// <summary>
    /// Moves a request this node holds from <paramref name="from"/> to <paramref name="to"/>, with an event.
    /// False when the row was no longer in that state or no longer ours: someone else now owns it.
    /// </summary>
    public async Task<bool> MoveAsync(long id, RequestState from, RequestState to, DateTimeOffset now, string reason, string? detail,
        Changes changes, CancellationToken cancellationToken, IReadOnlyList<string>? outputUrls = null, bool downloadOutputs = false,
        bool requireLease = true)
    {
        var sets = string.Join(", ", changes.Sets.Prepend("state = @to").Append("updated_at = @now"));
        var outputs = outputUrls is { Count: > 0 }
            ? """
              , outputs as (
                  insert into request_outputs (request_id, position, url, download_state, download_due_at, created_at)
                  select c.id, u.ordinality - 1, u.url, @download_state, @download_due, @now
                  from changed c cross join unnest(@urls) with ordinality as u(url, ordinality)
                  on conflict (request_id, position) do nothing
              )
              """
            : "";
        await using var command = dataSource.CreateCommand($"""
            with changed as (
                update generation_requests set {sets}
                where id = @id and state = @from {(requireLease ? "and lease_owner = @node" : "")}
                returning id
            ), events as (
                insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
                select id, @now, @from, @to, @reason, @detail, @node from changed
            ){outputs}
            select count(*) from changed
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("from", from.ToStorage());
        command.Parameters.AddWithValue("to", to.ToStorage());
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("reason", reason);
        command.Parameters.Add(new NpgsqlParameter("detail", NpgsqlDbType.Text) { Value = (object?)Truncate(detail) ?? DBNull.Value });
        command.Parameters.AddWithValue("node", Node);
        if (outputs.Length > 0)
        {
            command.Parameters.Add(new NpgsqlParameter("urls", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = outputUrls!.ToArray() });
            command.Parameters.AddWithValue("download_state", downloadOutputs ? "pending" : "none");
            command.Parameters.Add(new NpgsqlParameter("download_due", NpgsqlDbType.TimestampTz) { Value = downloadOutputs ? now : DBNull.Value });
        }

        command.Parameters.AddRange(changes.Parameters.ToArray());
        return (long)(await command.ExecuteScalarAsync(cancellationToken))! == 1;
    }

    /// <summary>
    /// Changes held rows without changing their state (no event): the next poll time, and the lease given back.
    /// Returns the ids written; a row missing from it was no longer this node's. Rows are locked in id order,
    /// as the lease renewal locks them, so the two never deadlock over a node's rows.
    /// </summary>
    public async Task<HashSet<long>> ReschedulePollsAsync(IReadOnlyList<PollReschedule> polls, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with held as (
                select id from generation_requests where id = any(@ids) and lease_owner = @node order by id for update
            )
            update generation_requests r set due_at = p.due, polled_at = p.polled, lease_owner = null, lease_expires_at = null
            from unnest(@ids, @states, @dues, @polled) as p(id, state, due, polled), held
            where r.id = p.id and r.id = held.id and r.state = p.state
            returning r.id
            """);
        command.Parameters.AddWithValue("ids", polls.Select(p => p.Id).ToArray());
        command.Parameters.AddWithValue("states", polls.Select(p => p.State.ToStorage()).ToArray());
        command.Parameters.AddWithValue("dues", polls.Select(p => p.DueAt).ToArray());
        command.Parameters.AddWithValue("polled", polls.Select(p => p.PolledAt).ToArray());
        command.Parameters.AddWithValue("node", Node);
        var written = new HashSet<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            written.Add(reader.GetInt64(0));
        }

        return written;
    }

    /// <summary>A timed-out task whose reconciliation window is over: nothing more will be asked.</summary>
    public async Task<bool> StopReconcilingAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            update generation_requests set due_at = null, lease_owner = null, lease_expires_at = null
            where id = @id and state = 'timed_out' and lease_owner = @node
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("node", Node);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due rows in <paramref name="state"/> for polling, under a lease until
    /// <paramref name="leaseUntil"/>: if this node dies, the row is due again when the lease runs out. The claim
    /// writes only columns no index covers, so PostgreSQL makes it a heap-only update with no index entries to
    /// add: it was the one serial step of polling, and at 10,000 tasks in flight it set the pace.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedRequest>> ClaimForPollAsync(RequestState state, int limit, DateTimeOffset now,
        DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
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
                      coalesce(r.upstream_out_task_id, r.out_task_id) as upstream_id, null::text as params, null::text as metadata,
                      due.due_at, due.polled_at
            """);
        command.Parameters.AddWithValue("node", Node);
        command.Parameters.AddWithValue("lease", leaseUntil);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("state", state.ToStorage());
        command.Parameters.AddWithValue("limit", limit);
        return await ReadClaims(command, cancellationToken);
    }

    /// <summary>The earliest due time of an unleased row in <paramref name="state"/>, so the poller can sleep exactly until then.</summary>
    public async Task<DateTimeOffset?> NextDueAsync(RequestState state, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "select min(due_at) from generation_requests where state = @state and (lease_expires_at is null or lease_expires_at < @now)");
        command.Parameters.AddWithValue("state", state.ToStorage());
        command.Parameters.AddWithValue("now", now);
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime due ? new DateTimeOffset(due, TimeSpan.Zero) : null;
    }

    /// <summary>
    /// Extends the leases of rows this node is working on. Returns the ids it still holds: any other
    /// was taken over (its lease had run out) or finished, and its work must stop. Rows are locked in id order
    /// (see <see cref="ReschedulePollsAsync"/>).
    /// </summary>
    public async Task<HashSet<long>> RenewAsync(IReadOnlyCollection<long> ids, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with held as (
                select id from generation_requests where id = any(@ids) and lease_owner = @node order by id for update
            )
            update generation_requests r
            set lease_expires_at = @lease
            from held where r.id = held.id
            returning r.id
            """);
        command.Parameters.AddWithValue("lease", leaseUntil);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        command.Parameters.AddWithValue("node", Node);
        var held = new HashSet<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            held.Add(reader.GetInt64(0));
        }

        return held;
    }

    /// <summary>
    /// Puts back every submit whose lease ran out (its node died or lost the database): to Queued, due now.
    /// The submit may have reached the upstream, and attempts is already above one, so the next claim
    /// asks the upstream by out_task_id before it ever sends again.
    /// </summary>
    public async Task<int> RecoverExpiredSubmitsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with expired as (
                update generation_requests
                set state = 'queued', due_at = @now, lease_owner = null, lease_expires_at = null, updated_at = @now
                where state = 'submitting' and lease_expires_at < @now
                returning id, lease_owner
            ), events as (
                insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
                select id, @now, 'submitting', 'queued', 'lease_expired', null, @node from expired
            )
            select count(*) from expired
            """);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("node", Node);
        return (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>On a graceful stop: every row this node holds goes back at once instead of waiting for its lease.</summary>
    public async Task<int> ReleaseAllAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with submits as (
                update generation_requests
                set state = 'queued', due_at = @now, lease_owner = null, lease_expires_at = null, updated_at = @now
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
            select (select count(*) from submits) + (select count(*) from polls)
            """);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("node", Node);
        return (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Reads claimed rows by column name. A submit claim returns params and metadata; a poll claim returns
    /// <c>polled_at</c>, the previous poll's time (the claim itself has just overwritten the column).
    /// </summary>
    internal static async Task<List<ClaimedRequest>> ReadClaims(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var claims = new List<ClaimedRequest>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        // Each column's position is looked up once, not once per row.
        var columns = Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, i => i);
        int At(string column) => columns[column];
        DateTimeOffset? Time(int i) => reader.IsDBNull(i) ? null : reader.GetFieldValue<DateTimeOffset>(i);
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        var (id, outTaskId, model, state, attempts) = (At("id"), At("out_task_id"), At("model"), At("state"), At("attempts"));
        var (submittedAt, deadlineAt, reconcileUntil, credits) = (At("submitted_at"), At("deadline_at"), At("reconcile_until"), At("estimated_credits"));
        var (upstreamId, parameters, metadata, dueAt) = (At("upstream_id"), At("params"), At("metadata"), At("due_at"));
        int? polledAt = columns.TryGetValue("polled_at", out var polled) ? polled : null;
        while (await reader.ReadAsync(cancellationToken))
        {
            claims.Add(new ClaimedRequest(
                reader.GetInt64(id),
                reader.GetString(outTaskId),
                reader.GetString(model),
                RequestStates.FromStorage(reader.GetString(state)),
                reader.GetInt32(attempts),
                Time(submittedAt),
                Time(deadlineAt),
                Time(reconcileUntil),
                reader.IsDBNull(credits) ? null : reader.GetDecimal(credits),
                reader.GetString(upstreamId))
            {
                Params = Text(parameters) is { } json ? JsonNode.Parse(json) as JsonObject : null,
                Metadata = Text(metadata) is { } meta ? JsonNode.Parse(meta) as JsonObject : null,
                DueAt = Time(dueAt)!.Value,
                PolledAt = polledAt is { } p ? Time(p) : null,
            });
        }

        return claims;
    }

    private static string? Truncate(string? text) => text is { Length: > 2000 } ? text[..2000] + "…" : text;
}
