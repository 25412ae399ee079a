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
/// The cluster at a glance, for the overview page, its tiles and <c>/api/stats</c>: counts, completions per minute and
/// credits from the trigger-kept counters (never a count over the requests), pauses and nodes.
/// </summary>
/// <remarks>
/// Read on every dashboard refresh, so each read costs what PostgreSQL takes: named statements run as commands on the
/// context (<see cref="ContextCommands"/>), all on one connection. Through EF's raw-SQL pipeline the overview took 4.4 ms
/// at p50 instead of 2.4; with the pauses and nodes as compiled LINQ, 2.3 instead of 2.0.
/// </remarks>
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
        var today = await db.QueryAsync(Sql.Today,
            r => new TodaySoFar(r.GetInt64(r.GetOrdinal("succeeded")), r.GetInt64(r.GetOrdinal("failed")), r.GetDecimal(r.GetOrdinal("credits"))),
            cancellationToken, new NpgsqlParameter("since", new DateTimeOffset(midnight, TimeSpan.Zero)),
            new NpgsqlParameter("day", DateOnly.FromDateTime(midnight)));
        return today.Single();
    }

    public async Task<Stats> StatsAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var utc = now.UtcDateTime;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        var counts = await Counts(db, cancellationToken);
        var throughput = await db.QueryAsync(Sql.LastHour,
            r => new ThroughputPoint(r.GetFieldValue<DateTimeOffset>(r.GetOrdinal("minute")), r.GetInt64(r.GetOrdinal("completed")),
                r.GetInt64(r.GetOrdinal("failed"))),
            cancellationToken, new NpgsqlParameter("since", now.AddMinutes(-60)));
        var credits = (await db.QueryAsync(Sql.Credits, r => (Today: r.GetDecimal(r.GetOrdinal("today")), Month: r.GetDecimal(r.GetOrdinal("month"))),
            cancellationToken, new NpgsqlParameter("today", DateOnly.FromDateTime(utc)),
            new NpgsqlParameter("month", new DateOnly(utc.Year, utc.Month, 1)))).Single();
        var pauses = await SubmitPauses.ListAsync(db, cancellationToken);
        var nodes = await db.QueryAsync(Sql.RecentNodes, ReadNode, cancellationToken, new NpgsqlParameter("stopped_since", now.AddHours(-1)));
        foreach (var node in nodes)
        {
            node.Alive = node.StoppedAt is null && now - node.HeartbeatAt < TimeSpan.FromMinutes(1);
        }

        return new Stats(counts, throughput, credits.Today, credits.Month, engine.CurrentValue.Limits.DailyCreditBudget, pauses, nodes);
    }

    private static async Task<StateCounts> Counts(JobsDbContext db, CancellationToken cancellationToken)
    {
        var rows = await db.QueryAsync(Sql.Counts, r => (State: r.GetString(r.GetOrdinal("state")), Count: r.GetInt64(r.GetOrdinal("count"))),
            cancellationToken);
        return new StateCounts(rows.ToDictionary(r => r.State, r => r.Count, StringComparer.Ordinal));
    }

    private static ClusterNode ReadNode(NpgsqlDataReader r)
    {
        return new ClusterNode
        {
            NodeId = r.GetString(r.GetOrdinal("node_id")),
            HostName = r.GetString(r.GetOrdinal("host_name")),
            ProcessId = r.GetInt32(r.GetOrdinal("process_id")),
            Version = r.GetString(r.GetOrdinal("version")),
            StartedAt = r.GetFieldValue<DateTimeOffset>(r.GetOrdinal("started_at")),
            HeartbeatAt = r.GetFieldValue<DateTimeOffset>(r.GetOrdinal("heartbeat_at")),
            StoppedAt = r.GetValueOrNull<DateTimeOffset>("stopped_at"),
            PollsLastInterval = r.GetValueOrNull<int>("polls_last_interval"),
            PollLatenessP50Ms = r.GetValueOrNull<int>("poll_lateness_p50_ms"),
            PollLatenessP99Ms = r.GetValueOrNull<int>("poll_lateness_p99_ms"),
            PollLatenessMaxMs = r.GetValueOrNull<int>("poll_lateness_max_ms"),
        };
    }

    private static class Sql
    {
        public const string Counts = """
            select state, sum(count)::bigint as count from request_counts group by state having sum(count) <> 0
            """;

        /// <summary>From the per-minute counters (0013): a day's completions are at most 1,440 minutes of counter rows.</summary>
        public const string Today = """
            select coalesce(sum(succeeded), 0)::bigint as succeeded, coalesce(sum(failed), 0)::bigint as failed,
                   (select coalesce(sum(credits), 0) from daily_credits where day = @day) as credits
            from completion_counts where minute >= @since
            """;

        /// <summary>Minute by minute, from the counters: the read no longer grows with the hour's completions.</summary>
        public const string LastHour = """
            select minute, sum(succeeded)::bigint as completed, sum(failed)::bigint as failed
            from completion_counts where minute >= date_trunc('minute', @since)
            group by minute having sum(succeeded) <> 0 or sum(failed) <> 0 order by minute
            """;

        /// <summary>Nodes running, or stopped within the last hour.</summary>
        public const string RecentNodes = """
            select node_id, host_name, process_id, version, started_at, heartbeat_at, stopped_at,
                   polls_last_interval, poll_lateness_p50_ms, poll_lateness_p99_ms, poll_lateness_max_ms
            from cluster_nodes where stopped_at is null or stopped_at > @stopped_since order by node_id
            """;

        public const string Credits = """
            select coalesce(sum(credits) filter (where day = @today), 0) as today, coalesce(sum(credits), 0) as month
            from daily_credits where day >= @month
            """;
    }
}
