using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Submitting;

/// <summary>The outcome of one claim round: rows to submit, or why none may be now and when to look again.</summary>
public sealed record SubmitClaim(IReadOnlyList<ClaimedRequest> Rows, string? BlockedBy, DateTimeOffset? RetryAt, bool IsProbe)
{
    public static SubmitClaim Blocked(string reason, DateTimeOffset? retryAt = null) => new([], reason, retryAt, false);
}

/// <summary>
/// Claims queued requests for submitting while holding every cluster-wide limit: pauses, tasks in flight
/// (global and per model), the daily credit budget and the submit rate. All are checked and the rows claimed
/// in one transaction under an advisory lock, so two nodes can never both take the last free place.
/// </summary>
public sealed class SubmitClaims(NpgsqlDataSource dataSource, IOptionsMonitor<EngineOptions> engine, IOptions<ClusterOptions> cluster,
    TimeProvider time)
{
    private const long LimitLockKey = 0x4169_5265_6974_0002;

    /// <summary>How far ahead send slots are handed out, so one round feeds the senders for a while.</summary>
    private static readonly TimeSpan SlotLookahead = TimeSpan.FromMilliseconds(500);

    public async Task<SubmitClaim> ClaimAsync(int wanted, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        var limits = options.Limits;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await Execute(connection, transaction, "select pg_advisory_xact_lock(@key)", cancellationToken, ("key", LimitLockKey));

        var isProbe = false;
        var pause = await FirstPause(connection, transaction, cancellationToken);
        if (pause is not null)
        {
            if (pause.Value.Reason == PauseReasons.Operator || !await TakeProbe(connection, transaction, now, options.PauseProbeInterval, cancellationToken))
            {
                await transaction.CommitAsync(cancellationToken);
                return SubmitClaim.Blocked($"paused ({pause.Value.Reason}): {pause.Value.Message}");
            }

            isProbe = true;
            wanted = 1;
        }

        // Per-model counts and in-flight credits need a look at the rows; the total alone is in the counters (0004).
        var (inFlight, perModel, inFlightCredits) = limits.MaxInFlightPerModel.Count > 0 || limits.DailyCreditBudget is not null
            ? await InFlight(connection, transaction, limits.FallbackEstimatedCredits, cancellationToken)
            : (await CountedInFlight(connection, transaction, cancellationToken), [], 0m);
        var room = Math.Min(wanted, limits.MaxInFlight - inFlight);
        if (room <= 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return SubmitClaim.Blocked($"in-flight limit reached ({inFlight} of {limits.MaxInFlight})");
        }

        if (limits.DailyCreditBudget is { } budget)
        {
            var used = await UsedSince(connection, transaction, StartOfDay(now, limits.BudgetTimeZone), cancellationToken);
            var affordable = (int)Math.Floor((budget - used - inFlightCredits) / limits.FallbackEstimatedCredits);
            if (affordable <= 0)
            {
                await transaction.CommitAsync(cancellationToken);
                return SubmitClaim.Blocked($"daily credit budget reached ({used + inFlightCredits:0.##} of {budget:0.##} used or in flight)");
            }

            room = Math.Min(room, affordable);
        }

        // Pacing: slots 1/rate apart, handed out a little ahead; none free yet means wait for the next.
        var spacing = TimeSpan.FromSeconds(1 / limits.SubmitsPerSecond);
        var nextSlot = await NextSlot(connection, transaction, cancellationToken);
        var firstSlot = nextSlot > now ? nextSlot : now;
        var paced = (int)Math.Floor((now + SlotLookahead - firstSlot) / spacing) + (firstSlot <= now ? 1 : 0);
        if (paced <= 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return SubmitClaim.Blocked($"submit rate limit ({limits.SubmitsPerSecond}/s)", firstSlot - SlotLookahead);
        }

        room = Math.Min(room, paced);
        var overBudget = await BatchesOverBudget(connection, transaction, limits.FallbackEstimatedCredits, cancellationToken);
        var rows = new List<ClaimedRequest>();
        var limited = limits.MaxInFlightPerModel;
        foreach (var (model, cap) in limited)
        {
            var modelRoom = Math.Min(room - rows.Count, cap - perModel.GetValueOrDefault(model));
            if (modelRoom > 0)
            {
                rows.AddRange(await Claim(connection, transaction, modelRoom, now, "and model = @model", model, null, overBudget, cancellationToken));
            }
        }

        if (room - rows.Count > 0)
        {
            rows.AddRange(await Claim(connection, transaction, room - rows.Count, now,
                limited.Count > 0 ? "and model <> all(@limited)" : "", null, limited.Keys.ToArray(), overBudget, cancellationToken));
        }

        // Slots are laid out from the moment the claim is done, not from when it began: a slow claim must not
        // leave its first slots in the past, which would send them all at once.
        var claimedAt = time.GetUtcNow();
        firstSlot = nextSlot > claimedAt ? nextSlot : claimedAt;
        var slotted = rows.Select((row, k) => row with { SendAt = firstSlot + spacing * k }).ToList();
        if (slotted.Count > 0)
        {
            await Execute(connection, transaction, "update submit_rate set next_slot = @next where id = 1", cancellationToken,
                ("next", firstSlot + spacing * slotted.Count));
        }

        await transaction.CommitAsync(cancellationToken);
        return new SubmitClaim(slotted, null, null, isProbe && slotted.Count > 0);
    }

    /// <summary>
    /// One more send slot, for a submit that is not the first call of its claim (it follows a query that said
    /// "not found"): the claim's own slot went to the query, and every submit must have a slot of its own.
    /// </summary>
    public async Task<DateTimeOffset> TakeSlotAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var spacing = TimeSpan.FromSeconds(1 / engine.CurrentValue.Limits.SubmitsPerSecond);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await Execute(connection, transaction, "select pg_advisory_xact_lock(@key)", cancellationToken, ("key", LimitLockKey));
        var next = await NextSlot(connection, transaction, cancellationToken);
        now = time.GetUtcNow(); // after waiting for the lock
        var slot = next > now ? next : now;
        await Execute(connection, transaction, "update submit_rate set next_slot = @next where id = 1", cancellationToken, ("next", slot + spacing));
        await transaction.CommitAsync(cancellationToken);
        return slot;
    }

    private async Task<List<ClaimedRequest>> Claim(NpgsqlConnection connection, NpgsqlTransaction transaction, int limit,
        DateTimeOffset now, string filter, string? model, string[]? excluded, long[] overBudget, CancellationToken cancellationToken)
    {
        if (overBudget.Length > 0)
        {
            filter += " and (batch_id is null or batch_id <> all(@over_budget))";
        }

        await using var command = new NpgsqlCommand($"""
            with claimed as (
                update generation_requests r
                set state = 'submitting', lease_owner = @node, lease_expires_at = @lease, attempts = r.attempts + 1, updated_at = @now
                from (
                    select id from generation_requests
                    where state = 'queued' and due_at <= @now {filter}
                    order by priority desc, due_at, id
                    limit @limit
                    for update skip locked
                ) q
                where r.id = q.id
                returning r.id, r.out_task_id, r.model, r.state, r.attempts, r.submitted_at, r.deadline_at, r.reconcile_until,
                          r.estimated_credits, coalesce(r.upstream_out_task_id, r.out_task_id) as upstream_id,
                          r.params::text, r.metadata::text, r.priority, r.due_at
            ), events as (
                insert into request_events (request_id, at, from_state, to_state, reason, node)
                select id, @now, 'queued', 'submitting', 'claimed', @node from claimed
            )
            select id, out_task_id, model, state, attempts, submitted_at, deadline_at, reconcile_until, estimated_credits, upstream_id,
                   params, metadata, due_at
            from claimed order by priority desc, due_at, id
            """, connection, transaction);
        command.Parameters.AddWithValue("node", cluster.Value.NodeId);
        command.Parameters.AddWithValue("lease", now + engine.CurrentValue.LeaseDuration);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("limit", limit);
        if (model is not null)
        {
            command.Parameters.AddWithValue("model", model);
        }

        if (excluded is not null)
        {
            command.Parameters.AddWithValue("limited", excluded);
        }

        if (overBudget.Length > 0)
        {
            command.Parameters.AddWithValue("over_budget", overBudget);
        }

        return await Transitions.ReadClaims(command, cancellationToken);
    }

    /// <summary>Open batches with a credit budget that one more request could overrun: their requests wait.</summary>
    private static async Task<long[]> BatchesOverBudget(NpgsqlConnection connection, NpgsqlTransaction transaction, decimal fallback,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            select b.id from batches b
            where b.finished_at is null and b.credit_budget is not null
              and (select coalesce(sum(coalesce(r.credits_used, r.estimated_credits,
                                                case when r.state in ('submitting', 'running') then @fallback else 0 end)), 0)
                   from generation_requests r where r.batch_id = b.id) + @fallback > b.credit_budget
            """, connection, transaction);
        command.Parameters.AddWithValue("fallback", fallback);
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt64(0));
        }

        return [.. ids];
    }

    private static async Task<(string Reason, string Message)?> FirstPause(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CancellationToken cancellationToken)
    {
        // An operator's pause wins; then the oldest.
        await using var command = new NpgsqlCommand(
            "select reason, message from submit_pauses order by (reason = 'operator') desc, paused_at limit 1", connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetString(0), reader.GetString(1)) : null;
    }

    /// <summary>One node at a time gets to try a single request while paused: whoever moves probe_at forward.</summary>
    private static async Task<bool> TakeProbe(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now,
        TimeSpan interval, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "update submit_pauses set probe_at = @next where reason <> 'operator' and probe_at <= @now", connection, transaction);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("next", now + interval);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    private static async Task<(int Total, Dictionary<string, int> PerModel, decimal Credits)> InFlight(NpgsqlConnection connection,
        NpgsqlTransaction transaction, decimal fallback, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            select model, count(*)::int, coalesce(sum(coalesce(estimated_credits, @fallback)), 0)
            from generation_requests where state in ('submitting', 'running')
            group by model
            """, connection, transaction);
        command.Parameters.AddWithValue("fallback", fallback);
        var perModel = new Dictionary<string, int>(StringComparer.Ordinal);
        var credits = 0m;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            perModel[reader.GetString(0)] = reader.GetInt32(1);
            credits += reader.GetDecimal(2);
        }

        return (perModel.Values.Sum(), perModel, credits);
    }

    /// <summary>Submitting and running rows from the counters: a few dozen counter rows instead of every row in flight.</summary>
    private static async Task<int> CountedInFlight(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "select coalesce(sum(count), 0)::int from request_counts where state in ('submitting', 'running')", connection, transaction);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<decimal> UsedSince(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset since,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "select coalesce(sum(credits_used), 0) from generation_requests where completed_at >= @since", connection, transaction);
        command.Parameters.AddWithValue("since", since);
        return (decimal)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<DateTimeOffset> NextSlot(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select next_slot from submit_rate where id = 1", connection, transaction);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DateTime slot && slot != DateTime.MinValue ? new DateTimeOffset(DateTime.SpecifyKind(slot, DateTimeKind.Utc)) : DateTimeOffset.MinValue;
    }

    internal static DateTimeOffset StartOfDay(DateTimeOffset now, string timeZone)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var midnight = new DateTime(local.Year, local.Month, local.Day, 0, 0, 0, DateTimeKind.Unspecified);
        return new DateTimeOffset(midnight, zone.GetUtcOffset(midnight)).ToUniversalTime();
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken,
        params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
