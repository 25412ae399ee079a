using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Polling;

/// <summary>
/// Claims running tasks whose poll is due and asks the upstream about them, on every node at once.
/// A claim leases the row, so a node that dies mid-poll leaves it due again when the lease runs out;
/// only the lease owner may record the answer. Between rounds it sleeps until the next poll is due
/// (or a callback wakes it), so polls are punctual.
/// </summary>
public sealed partial class Poller(
    RequestLifecycle lifecycle,
    PollProcessor processor,
    WakeSignals signals,
    WorkInFlight work,
    PollLateness lateness,
    JobsMetrics metrics,
    IOptionsMonitor<EngineOptions> engine,
    TimeProvider time,
    ILogger<Poller> logger) : ClaimLoop(signals.Poll, time, logger)
{
    private readonly ILogger _logger = logger;

    protected override string Claims => "tasks to poll";

    protected override int MaxConcurrent => engine.CurrentValue.MaxConcurrentPolls;

    protected override TimeSpan WaitWhileBusy => engine.CurrentValue.IdleTick;

    protected override Task<DateTimeOffset?> NextDueAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        lifecycle.NextDueAsync(RequestState.Running, now, cancellationToken);

    protected override TimeSpan WaitForNextDue(DateTimeOffset? nextDue, DateTimeOffset now) =>
        nextDue is null ? engine.CurrentValue.IdleTickMax : Min(nextDue.Value - now, engine.CurrentValue.IdleTickMax);

    protected override async Task<ClaimRound> ClaimAsync(int free, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var rows = await lifecycle.ClaimForPollAsync(RequestState.Running, free, now, now + engine.CurrentValue.LeaseDuration, cancellationToken);
        if (rows.Count == free)
        {
            lateness.RecordFullRound(now);
        }

        return new(rows, Work);
    }

    /// <summary>Until the next poll is due; with nothing running at all, until a submit wakes this loop.</summary>
    protected override async Task<TimeSpan> WaitAfterAsync(ClaimRound round, CancellationToken cancellationToken)
    {
        var wait = engine.CurrentValue.IdleTick;
        if (await lifecycle.NextDueAsync(RequestState.Running, Time.GetUtcNow(), cancellationToken) is { } due)
        {
            return Min(due - Time.GetUtcNow(), wait);
        }

        return Running == 0 ? engine.CurrentValue.IdleTickMax : wait;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task Work(ClaimedRequest row, CancellationToken stoppingToken)
    {
        using var lease = work.Begin(row.Id, row.LeaseExpiresAt, stoppingToken);
        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["OutTaskId"] = row.OutTaskId, ["BatchId"] = row.BatchId });
        using var activity = JobsMetrics.Start("poll", row.OutTaskId, row.Model, row.BatchId);
        var started = Time.GetUtcNow();
        var late = started - row.DueAt;
        lateness.Record(late, started);
        metrics.PollStarted(late);
        try
        {
            await processor.PollAsync(row, lease.Token);
        }
        catch (OperationCanceledException) when (lease.Token.IsCancellationRequested)
        {
            // Stopping or lease lost: the row is due again when its lease runs out (or at once, on release).
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            LogPollFailed(row.OutTaskId, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the poll of {OutTaskId} ({Reason}); it will be polled again")]
    private partial void LogPollFailed(string outTaskId, string reason);
}
