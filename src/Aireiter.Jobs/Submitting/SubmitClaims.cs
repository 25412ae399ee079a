using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
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
/// in one transaction under an advisory lock, so two nodes can never both take the last free place. Send slots
/// (the rate) are reserved by one update of the rate's row, which needs no lock besides that row's: a submit
/// that takes a slot of its own waits only for that row, which a claim round holds from its reservation to its commit.
/// </summary>
public sealed class SubmitClaims(IDbContextFactory<JobsDbContext> contexts, RequestLifecycle lifecycle, IOptionsMonitor<EngineOptions> engine,
    TimeProvider time)
{
    private const long LimitLockKey = 0x4169_5265_6974_0002;

    /// <summary>How far ahead send slots are handed out, so one round feeds the senders for a while.</summary>
    private static readonly TimeSpan SlotLookahead = TimeSpan.FromMilliseconds(500);

    public async Task<SubmitClaim> ClaimAsync(int wanted, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        var limits = options.Limits;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.ExecuteAsync(Sql.LimitLock, cancellationToken, new NpgsqlParameter("key", LimitLockKey));

        var isProbe = false;
        var pause = await FirstPause(db, cancellationToken);
        if (pause is not null)
        {
            if (pause.Value.Reason == PauseReasons.Operator || !await TakeProbe(db, now, options.PauseProbeInterval, cancellationToken))
            {
                await transaction.CommitAsync(cancellationToken);
                return SubmitClaim.Blocked($"paused ({pause.Value.Reason}): {pause.Value.Message}");
            }

            isProbe = true;
            wanted = 1;
        }

        // Per-model counts and in-flight credits need a look at the rows; the total alone is in the counters (0004).
        var (inFlight, perModel, inFlightCredits) = limits.MaxInFlightPerModel.Count > 0 || limits.DailyCreditBudget is not null
            ? await InFlight(db, limits.FallbackEstimatedCredits, cancellationToken)
            : (await CountedInFlight(db, cancellationToken), [], 0m);
        var room = Math.Min(wanted, limits.MaxInFlight - inFlight);
        if (room <= 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return SubmitClaim.Blocked($"in-flight limit reached ({inFlight} of {limits.MaxInFlight})");
        }

        if (limits.DailyCreditBudget is { } budget)
        {
            var used = await UsedSince(db, StartOfDay(now, limits.BudgetTimeZone), cancellationToken);
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
        var nextSlot = await NextSlot(db, cancellationToken);
        var firstSlot = nextSlot > now ? nextSlot : now;
        var paced = (int)Math.Floor((now + SlotLookahead - firstSlot) / spacing) + (firstSlot <= now ? 1 : 0);
        if (paced <= 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return SubmitClaim.Blocked($"submit rate limit ({limits.SubmitsPerSecond}/s)", firstSlot - SlotLookahead);
        }

        room = Math.Min(room, paced);
        var overBudget = await BatchesOverBudget(db, limits.FallbackEstimatedCredits, cancellationToken);
        var rows = new List<ClaimedRequest>();
        var limited = limits.MaxInFlightPerModel;
        foreach (var (model, cap) in limited)
        {
            var modelRoom = Math.Min(room - rows.Count, cap - perModel.GetValueOrDefault(model));
            if (modelRoom > 0)
            {
                rows.AddRange(await lifecycle.ClaimForSubmitAsync(db, new SubmitFilter(model, [], overBudget), modelRoom, now, now + options.LeaseDuration,
                    cancellationToken));
            }
        }

        if (room - rows.Count > 0)
        {
            rows.AddRange(await lifecycle.ClaimForSubmitAsync(db, new SubmitFilter(null, limited.Keys, overBudget), room - rows.Count, now,
                now + options.LeaseDuration, cancellationToken));
        }

        // Slots are laid out from the moment the claim is done, not from when it began: a slow claim must not
        // leave its first slots in the past, which would send them all at once.
        if (rows.Count > 0)
        {
            var first = await ReserveSlots(db, time.GetUtcNow(), spacing, rows.Count, cancellationToken);
            rows = [.. rows.Select((row, k) => row with { SendAt = first + spacing * k })];
        }

        await transaction.CommitAsync(cancellationToken);
        return new SubmitClaim(rows, null, null, isProbe && rows.Count > 0);
    }

    /// <summary>
    /// One more send slot, for a submit that is not the first call of its claim (it follows a query that said
    /// "not found"): the claim's own slot went to the query, and every submit must have a slot of its own.
    /// </summary>
    public async Task<DateTimeOffset> TakeSlotAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var spacing = TimeSpan.FromSeconds(1 / engine.CurrentValue.Limits.SubmitsPerSecond);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await ReserveSlots(db, now, spacing, 1, cancellationToken);
    }

    /// <summary>
    /// Reserves <paramref name="count"/> send slots, <paramref name="spacing"/> apart, from the next free one but none
    /// before <paramref name="from"/> plus however long the statement waited for the rate's row; returns the first. One
    /// statement, so two reservations never share a slot.
    /// </summary>
    private static async Task<DateTimeOffset> ReserveSlots(JobsDbContext db, DateTimeOffset from, TimeSpan spacing, int count,
        CancellationToken cancellationToken) =>
        (await db.QueryAsync(Sql.ReserveSlots, r => r.GetFieldValue<DateTimeOffset>(0), cancellationToken,
            new NpgsqlParameter("from", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = from.ToUniversalTime() },
            new NpgsqlParameter("spacing", NpgsqlTypes.NpgsqlDbType.Interval) { Value = spacing },
            new NpgsqlParameter("count", NpgsqlTypes.NpgsqlDbType.Integer) { Value = count })).Single();

    /// <summary>Open batches with a credit budget that one more request could overrun: their requests wait.</summary>
    private static async Task<long[]> BatchesOverBudget(JobsDbContext db, decimal fallback, CancellationToken cancellationToken) =>
        [.. await db.QueryAsync(Sql.BatchesOverBudget, r => r.GetInt64(0), cancellationToken, new NpgsqlParameter("fallback", fallback))];

    /// <summary>The pause that holds submitting, if any: an operator's wins, then the oldest.</summary>
    private static async Task<(string Reason, string Message)?> FirstPause(JobsDbContext db, CancellationToken cancellationToken)
    {
        var pauses = await db.QueryAsync(Sql.FirstPause, r => (r.GetString(r.GetOrdinal("reason")), r.GetString(r.GetOrdinal("message"))), cancellationToken);
        return pauses.Count == 0 ? null : pauses[0];
    }

    /// <summary>One node at a time gets to try a single request while paused: whoever moves probe_at forward.</summary>
    private static async Task<bool> TakeProbe(JobsDbContext db, DateTimeOffset now, TimeSpan interval, CancellationToken cancellationToken) =>
        await db.ExecuteAsync(Sql.TakeProbe, cancellationToken, new NpgsqlParameter("now", now), new NpgsqlParameter("next", now + interval)) > 0;

    private static async Task<(int Total, Dictionary<string, int> PerModel, decimal Credits)> InFlight(JobsDbContext db, decimal fallback,
        CancellationToken cancellationToken)
    {
        var models = await db.QueryAsync(Sql.InFlightPerModel,
            r => (Model: r.GetString(r.GetOrdinal("model")), Count: r.GetInt32(r.GetOrdinal("count")), Credits: r.GetDecimal(r.GetOrdinal("credits"))),
            cancellationToken, new NpgsqlParameter("fallback", fallback));
        return (models.Sum(m => m.Count), models.ToDictionary(m => m.Model, m => m.Count, StringComparer.Ordinal), models.Sum(m => m.Credits));
    }

    /// <summary>Submitting and running rows from the counters: a few dozen counter rows instead of every row in flight.</summary>
    private static async Task<int> CountedInFlight(JobsDbContext db, CancellationToken cancellationToken) =>
        (await db.QueryAsync(Sql.CountedInFlight, r => r.GetInt32(0), cancellationToken)).Single();

    private static async Task<decimal> UsedSince(JobsDbContext db, DateTimeOffset since, CancellationToken cancellationToken) =>
        (await db.QueryAsync(Sql.CreditsUsedSince, r => r.GetDecimal(0), cancellationToken, new NpgsqlParameter("since", since))).Single();

    private static async Task<DateTimeOffset> NextSlot(JobsDbContext db, CancellationToken cancellationToken) =>
        (await db.QueryAsync(Sql.NextSlot, r => r.IsDBNull(0) ? DateTimeOffset.MinValue : r.GetFieldValue<DateTimeOffset>(0), cancellationToken)).Single();

    internal static DateTimeOffset StartOfDay(DateTimeOffset now, string timeZone)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var midnight = new DateTime(local.Year, local.Month, local.Day, 0, 0, 0, DateTimeKind.Unspecified);
        return new DateTimeOffset(midnight, zone.GetUtcOffset(midnight)).ToUniversalTime();
    }

    /// <summary>The claim round's statements besides the claim itself (which is the lifecycle's).</summary>
    private static class Sql
    {
        public const string LimitLock = "select pg_advisory_xact_lock(@key)";

        public const string FirstPause = """
            select reason, message from submit_pauses order by (reason = 'operator') desc, paused_at limit 1
            """;

        public const string TakeProbe = "update submit_pauses set probe_at = @next where reason <> 'operator' and probe_at <= @now";

        public const string InFlightPerModel = """
            select model, count(*)::int as count, coalesce(sum(coalesce(estimated_credits, @fallback)), 0) as credits
            from generation_requests where state in ('submitting', 'running')
            group by model
            """;

        public const string CountedInFlight = """
            select coalesce(sum(count), 0)::int as value from request_counts where state in ('submitting', 'running')
            """;

        public const string CreditsUsedSince = """
            select coalesce(sum(credits_used), 0) as value from generation_requests where completed_at >= @since
            """;

        public const string BatchesOverBudget = """
            select b.id as value from batches b
            where b.finished_at is null and b.credit_budget is not null
              and (select coalesce(sum(coalesce(r.credits_used, r.estimated_credits,
                                                case when r.state in ('submitting', 'running') then @fallback else 0 end)), 0)
                   from generation_requests r where r.batch_id = b.id) + @fallback > b.credit_budget
            """;

        public const string NextSlot = """select nullif(next_slot, '-infinity') as value from submit_rate where id = 1""";

        /// <summary>
        /// The earliest slot is @from (the caller's clock when it asked) moved on by the time this statement waited for the
        /// row, as the database's clock measures it: the new value is computed again once the lock is granted. Without that,
        /// a reservation that queued behind others got a slot already past, was sent late, retook a slot and queued again
        /// (27,181 reservations for 20,000 requests on two nodes, 83 ms each); and slots handed out in the past send at once,
        /// bunched. Only differences of the database's clock are used, so the nodes' clocks need not agree with it.
        /// </summary>
        public const string ReserveSlots = """
            update submit_rate
            set next_slot = greatest(next_slot, @from + (clock_timestamp() - statement_timestamp())) + @spacing * @count
            where id = 1
            returning next_slot - @spacing * @count as value
            """;
    }
}
