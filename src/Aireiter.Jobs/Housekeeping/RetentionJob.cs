using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>
/// Prunes request events older than <see cref="EngineOptions.EventRetention"/>, in small batches so it never holds long
/// locks, and per-minute completion counters older than two days (the dashboard reads today's and the last hour's). A
/// Hangfire recurring job (hourly, once per cluster); running it twice deletes nothing twice.
/// </summary>
[AutomaticRetry(Attempts = 0)]
public sealed partial class RetentionJob(RequestLifecycle lifecycle, IOptionsMonitor<EngineOptions> engine, TimeProvider time,
    ILogger<RetentionJob> logger)
{
    public const string RecurringJobId = "housekeeping:event-retention";
    private const int BatchSize = 5000;
    private static readonly TimeSpan CompletionCountsKept = TimeSpan.FromDays(2);

    [JobDisplayName("Prune old request events")]
    public async Task<string> RunAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - engine.CurrentValue.EventRetention;
        var total = 0;
        int deleted;
        do
        {
            deleted = await lifecycle.ForgetEventsAsync(cutoff, BatchSize, cancellationToken);
            total += deleted;
        }
        while (deleted == BatchSize && !cancellationToken.IsCancellationRequested);

        // At most a row per minute and counter shard: one statement.
        await lifecycle.ForgetCompletionCountsAsync(time.GetUtcNow() - CompletionCountsKept, cancellationToken);

        if (total > 0)
        {
            LogPruned(total, cutoff);
        }

        return $"{total} events older than {cutoff:u} deleted";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Count} request events older than {Cutoff}")]
    private partial void LogPruned(int count, DateTimeOffset cutoff);
}
