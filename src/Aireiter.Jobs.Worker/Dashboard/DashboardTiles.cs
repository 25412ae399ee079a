using Aireiter.Jobs.Monitoring;

namespace Aireiter.Jobs.Worker.Dashboard;

/// <summary>The figures behind the home page tiles, read once per HTTP request.</summary>
public sealed record DashboardTiles(long Queued, long InFlight, long SucceededToday, long FailedToday, decimal CreditsToday,
    decimal? DailyBudget, string? PausedBy)
{
    public static DashboardTiles For(HttpContext http)
    {
        if (http.Items[typeof(DashboardTiles)] is DashboardTiles cached)
        {
            return cached;
        }

        var monitoring = http.RequestServices.GetRequiredService<MonitoringQueries>();
        // Hangfire renders its pages synchronously; the queries are short and run on the pool's own connections.
        var stats = monitoring.StatsAsync(http.RequestAborted).GetAwaiter().GetResult();
        var today = monitoring.FinishedTodayAsync(http.RequestAborted).GetAwaiter().GetResult();
        var count = (string state) => stats.Counts.ByState.GetValueOrDefault(state);
        var tiles = new DashboardTiles(count("queued"), count("submitting") + count("running"), today.Succeeded, today.Failed,
            stats.CreditsToday, stats.DailyBudget, stats.Pauses.Count > 0 ? stats.Pauses[0].Reason : null);
        http.Items[typeof(DashboardTiles)] = tiles;
        return tiles;
    }
}
