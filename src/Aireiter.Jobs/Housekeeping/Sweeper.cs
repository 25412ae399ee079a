using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Requests;
using Hangfire;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>
/// The frequent sweeps, run by every node on its own timer:
/// <list type="bullet">
/// <item>expired submit leases: a Submitting row whose node died goes back to Queued and, its attempts being above one,
/// is asked about upstream before it is ever sent again;</item>
/// <item>reconciliation: timed-out tasks are asked about again while their window lasts, so a late result and its
/// credits are still recorded (flagged late);</item>
/// <item>finished batches: their end and summary are recorded and logged, and a <see cref="BatchFinishedJob"/> is
/// enqueued on Hangfire to announce it (webhook, your own handlers).</item>
/// </list>
/// Each is safe on several nodes at once (a conditional update, or a claim with SKIP LOCKED), and with nothing to do
/// costs one or two statements. As scheduler jobs they cost far more: each run of a Quartz job took some 35 statements
/// of bookkeeping, and a Hangfire recurring job needs a lock, its job row, state rows and a queue round trip (about 40
/// statements per job measured here) to make sure only one node runs it. Only the hourly event retention, where that
/// cost does not matter, is a Hangfire recurring job.
/// </summary>
public sealed partial class Sweeper(
    RequestLifecycle lifecycle,
    BatchStore batches,
    IBackgroundJobClient jobs,
    PollProcessor processor,
    WorkInFlight work,
    WakeSignals signals,
    IOptionsMonitor<EngineOptions> engine,
    IOptionsMonitor<PollingOptions> polling,
    TimeProvider time,
    ILogger<Sweeper> logger) : BackgroundService
{
    private const int ReconcileBatch = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var start = time.GetUtcNow();
        var (leases, reconcile, finished) = (start, start, start);
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            if (now >= leases)
            {
                await Sweep("expired leases", RecoverLeases, stoppingToken);
                leases = now + engine.CurrentValue.LeaseSweepInterval;
            }

            if (now >= reconcile)
            {
                await Sweep("reconciliation", Reconcile, stoppingToken);
                reconcile = now + ReconcileEvery(polling.CurrentValue);
            }

            if (now >= finished)
            {
                await Sweep("finished batches", FinishBatches, stoppingToken);
                finished = now + engine.CurrentValue.BatchSweepInterval;
            }

            var next = new[] { leases, reconcile, finished }.Min() - time.GetUtcNow();
            await Task.Delay(next > TimeSpan.Zero ? next : TimeSpan.Zero, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Half the interval at which a timed-out task is asked again, so none waits much longer than that; at least a second.</summary>
    internal static TimeSpan ReconcileEvery(PollingOptions options) =>
        options.ReconcileInterval / 2 > TimeSpan.FromSeconds(1) ? options.ReconcileInterval / 2 : TimeSpan.FromSeconds(1);

    private async Task Sweep(string name, Func<CancellationToken, Task> sweep, CancellationToken stoppingToken)
    {
        try
        {
            await sweep(stoppingToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
        {
            LogSweepFailed(name, ex.Message);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    private async Task RecoverLeases(CancellationToken cancellationToken)
    {
        // A submit sent just before its lease ran out may still be on its way: the question that comes first on the next
        // claim waits as long as it does after an ambiguous answer, so that it finds the task if the submit landed.
        var now = time.GetUtcNow();
        var recovered = await lifecycle.LeaseExpiredAsync(now, now + engine.CurrentValue.AmbiguityDelay, cancellationToken);
        if (recovered > 0)
        {
            LogRecovered(recovered);
            signals.Submit.Raise();
        }
    }

    private async Task Reconcile(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var rows = await lifecycle.ClaimForPollAsync(RequestState.TimedOut, ReconcileBatch, now, now + engine.CurrentValue.LeaseDuration, cancellationToken);
        await Parallel.ForEachAsync(rows, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (row, token) =>
            {
                using var lease = work.Begin(row.Id, row.LeaseExpiresAt, token);
                await processor.PollAsync(row, lease.Token);
            });
    }

    private async Task FinishBatches(CancellationToken cancellationToken)
    {
        foreach (var batch in await batches.FinishCompletedAsync(cancellationToken))
        {
            using var scope = logger.BeginScope(new Dictionary<string, object> { ["Batch"] = batch.Name });
            LogFinished(batch.Name, batch.Total, batch.Count("succeeded"), batch.Count("failed"), batch.Count("timed_out"),
                batch.Count("cancelled"), batch.CreditsUsed, batch.EstimatedCredits);
            // Only the node whose update recorded the end gets here, so the announcement is enqueued once.
            try
            {
                jobs.Enqueue<BatchFinishedJob>(job => job.RunAsync(batch.Name, null, CancellationToken.None));
            }
            catch (BackgroundJobClientException ex)
            {
                LogNotEnqueued(batch.Name, ex.InnerException?.Message ?? ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recovered {Count} submits whose lease ran out; each is checked upstream before any resubmit")]
    private partial void LogRecovered(int count);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Batch {Batch} finished: {Total} requests, {Succeeded} succeeded, {Failed} failed, {TimedOut} timed out, {Cancelled} cancelled; {CreditsUsed} credits used (estimated {CreditsEstimated})")]
    private partial void LogFinished(string batch, long total, long succeeded, long failed, long timedOut, long cancelled, decimal creditsUsed, decimal creditsEstimated);

    [LoggerMessage(Level = LogLevel.Error, Message = "Batch {Batch} finished but its announcement could not be enqueued ({Reason}); it is not sent")]
    private partial void LogNotEnqueued(string batch, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Sweep} sweep failed ({Reason}); it runs again at its next interval")]
    private partial void LogSweepFailed(string sweep, string reason);
}
