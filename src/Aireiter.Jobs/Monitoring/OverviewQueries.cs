using System.ComponentModel.DataAnnotations.Schema;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Submitting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Monitoring;

public sealed record StateCounts(IReadOnlyDictionary<string, long> ByState)
{
    public long Total => ByState.Values.Sum();
}

public sealed record ThroughputPoint(DateTimeOffset Minute, long Completed, long Failed);

public sealed record TodaySoFar(long Succeeded, long Failed, decimal CreditsUsed);

public sealed record Stats(
    StateCounts Counts,
    IReadOnlyList<ThroughputPoint> Throughput,
    decimal CreditsToday,
    decimal CreditsThisMonth,
    decimal? DailyBudget,
    IReadOnlyList<SubmitPause> Pauses,
    IReadOnlyList<ClusterNode> Nodes);

/// <summary>
/// The cluster at a glance, for the overview page, its tiles and <c>/api/stats</c>: counts from the trigger-kept
/// counters (never a count over the requests), completions of the last hour, credits, pauses and nodes.
/// </summary>
public sealed class OverviewQueries(IDbContextFactory<JobsDbContext> contexts, IOptionsMonitor<EngineOptions> engine, TimeProvider time)
{
    public async Task<StateCounts> CountsAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await Counts(db, cancellationToken);
    }

    /// <summary>
    /// Since midnight UTC: requests that reached Succeeded, those that reached Failed or TimedOut, and credits used. Cheaper
    /// than <see cref="StatsAsync"/> (no throughput chart, no nodes), for figures read every few seconds.
    /// </summary>
    public async Task<TodaySoFar> TodayAsync(CancellationToken cancellationToken)
    {
        var midnight = time.GetUtcNow().UtcDateTime.Date;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var today = await db.Database.SqlQueryRaw<TodayRow>(Sql.Today,
                new NpgsqlParameter("since", new DateTimeOffset(midnight, TimeSpan.Zero)), new NpgsqlParameter("day", DateOnly.FromDateTime(midnight)))
            .SingleAsync(cancellationToken);
        return new TodaySoFar(today.Succeeded, today.Failed, today.Credits);
    }

    public async Task<Stats> StatsAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var utc = now.UtcDateTime;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var counts = await Counts(db, cancellationToken);
        var throughput = await db.Database.SqlQueryRaw<ThroughputRow>(Sql.LastHour, new NpgsqlParameter("since", now.AddMinutes(-60)))
            .ToListAsync(cancellationToken);
        var credits = await db.Database.SqlQueryRaw<CreditsRow>(Sql.Credits,
                new NpgsqlParameter("today", DateOnly.FromDateTime(utc)), new NpgsqlParameter("month", new DateOnly(utc.Year, utc.Month, 1)))
            .SingleAsync(cancellationToken);
        var pauses = await SubmitPauses.ListAsync(db, cancellationToken);
        var recent = now.AddHours(-1);
        var nodes = await db.ClusterNodes.Where(n => n.StoppedAt == null || n.StoppedAt > recent).OrderBy(n => n.NodeId)
            .ToListAsync(cancellationToken);

        foreach (var node in nodes)
        {
            node.Alive = node.StoppedAt is null && now - node.HeartbeatAt < TimeSpan.FromMinutes(1);
        }

        return new Stats(counts, throughput.ConvertAll(t => new ThroughputPoint(t.Minute, t.Completed, t.Failed)), credits.Today, credits.Month,
            engine.CurrentValue.Limits.DailyCreditBudget, pauses, nodes);
    }

    private static async Task<StateCounts> Counts(JobsDbContext db, CancellationToken cancellationToken)
    {
        var rows = await db.Database.SqlQueryRaw<StateCountRow>(Sql.Counts).ToListAsync(cancellationToken);
        return new StateCounts(rows.ToDictionary(r => r.State, r => r.Count, StringComparer.Ordinal));
    }

    private sealed class StateCountRow
    {
        [Column("state")] public required string State { get; init; }
        [Column("count")] public long Count { get; init; }
    }

    private sealed class TodayRow
    {
        [Column("succeeded")] public long Succeeded { get; init; }
        [Column("failed")] public long Failed { get; init; }
        [Column("credits")] public decimal Credits { get; init; }
    }

    private sealed class ThroughputRow
    {
        [Column("minute")] public DateTimeOffset Minute { get; init; }
        [Column("completed")] public long Completed { get; init; }
        [Column("failed")] public long Failed { get; init; }
    }

    private sealed class CreditsRow
    {
        [Column("today")] public decimal Today { get; init; }
        [Column("month")] public decimal Month { get; init; }
    }

    private static class Sql
    {
        public const string Counts = """
            select state, sum(count)::bigint as count from request_counts group by state having sum(count) <> 0
            """;

        public const string Today = """
            select count(*) filter (where state = 'succeeded') as succeeded, count(*) filter (where state in ('failed', 'timed_out')) as failed,
                   (select coalesce(sum(credits), 0) from daily_credits where day = @day) as credits
            from generation_requests where completed_at >= @since
            """;

        public const string LastHour = """
            select date_trunc('minute', completed_at) as minute, count(*) filter (where state = 'succeeded') as completed,
                   count(*) filter (where state in ('failed', 'timed_out')) as failed
            from generation_requests where completed_at >= @since and state <> 'cancelled' group by 1 order by 1
            """;

        public const string Credits = """
            select coalesce(sum(credits) filter (where day = @today), 0) as today, coalesce(sum(credits), 0) as month
            from daily_credits where day >= @month
            """;
    }
}
