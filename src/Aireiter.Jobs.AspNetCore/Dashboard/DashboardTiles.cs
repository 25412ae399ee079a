using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Submitting;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Dashboard;

/// <summary>
/// The figures behind the home page tiles, read once per HTTP request. Hangfire's home page asks for them again every
/// few seconds for as long as it is open, so they come from the counters and today's rows, not from the full stats
/// (whose throughput chart grows with the hour's completions).
/// </summary>
public sealed record DashboardTiles(long Queued, long InFlight, long SucceededToday, long FailedToday, decimal CreditsToday,
    decimal? DailyBudget, string? PausedBy)
{
    public static DashboardTiles For(HttpContext http)
    {
        if (http.Items[typeof(DashboardTiles)] is DashboardTiles cached)
        {
            return cached;
        }

        var services = http.RequestServices;
        var overview = services.GetRequiredService<OverviewQueries>();
        // Hangfire renders its pages synchronously; the queries are short and run on the pool's own connections.
        var counts = overview.CountsAsync(http.RequestAborted).GetAwaiter().GetResult().ByState;
        var today = overview.TodayAsync(http.RequestAborted).GetAwaiter().GetResult();
        var pauses = services.GetRequiredService<SubmitPauses>().ListAsync(http.RequestAborted).GetAwaiter().GetResult();
        var budget = services.GetRequiredService<IOptionsMonitor<EngineOptions>>().CurrentValue.Limits.DailyCreditBudget;
        var tiles = new DashboardTiles(counts.GetValueOrDefault("queued"), counts.GetValueOrDefault("submitting") + counts.GetValueOrDefault("running"),
            today.Succeeded, today.Failed, today.CreditsUsed, budget, pauses.Count > 0 ? pauses[0].Reason : null);
        http.Items[typeof(DashboardTiles)] = tiles;
        return tiles;
    }
}
