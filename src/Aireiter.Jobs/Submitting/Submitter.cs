using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Submitting;

/// <summary>
/// Claims queued requests and submits them, on every node at once. The guarantees, at each point where a
/// crash can happen:
/// <list type="bullet">
/// <item>Claimed but not sent: the row is Submitting with an expiring lease; it comes back to Queued and is tried again.</item>
/// <item>About to send: only while this node's lease has more than a renewal period left (the fence in
/// <see cref="SubmitProcessor"/>), so no other claim can be asking the upstream about the request at the same time.</item>
/// <item>Sent, answer lost (time-out, dropped connection, crash): the task may exist and be billed. The row comes back
/// with attempts above one, and any claim with attempts above one asks the upstream by out_task_id first:
/// found is adopted as Running, only "not found" is submitted again, with the same id.</item>
/// <item>Accepted and recorded: Running, in one statement with its event.</item>
/// </list>
/// So a request is never lost, and never submitted again while the upstream may already have it. This is the loop
/// (claim rounds, idle back-off, the lease around each row); <see cref="SubmitProcessor"/> works one claimed row.
/// </summary>
public sealed partial class Submitter(
    SubmitClaims claims,
    RequestLifecycle lifecycle,
    SubmitProcessor processor,
    WakeSignals signals,
    WorkInFlight work,
    PollLateness pollLateness,
    EngineStatus status,
    IOptionsMonitor<EngineOptions> engine,
    TimeProvider time,
    ILogger<Submitter> logger) : ClaimLoop(signals.Submit, time, logger)
{
    private readonly ILogger _logger = logger;

    /// <summary>How soon a hold for late polls is looked at again.</summary>
    private static readonly TimeSpan PollsFirstRecheck = TimeSpan.FromMilliseconds(100);

    private TimeSpan _idle = engine.CurrentValue.IdleTick;

    protected override string Claims => "requests to submit";

    protected override int MaxConcurrent => engine.CurrentValue.MaxConcurrentSubmits;

    protected override TimeSpan WaitWhileBusy => _idle;

    protected override Task<DateTimeOffset?> NextDueAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        lifecycle.NextDueAsync(RequestState.Queued, now, cancellationToken);

    /// <summary>Nothing due: look less often (up to IdleTickMax) until a notification or work comes.</summary>
    protected override TimeSpan WaitForNextDue(DateTimeOffset? nextDue, DateTimeOffset now)
    {
        _idle = Longer(_idle);
        return nextDue is { } due && due - now < _idle ? due - now : _idle;
    }

    protected override async Task<ClaimRound> ClaimAsync(int free, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var held = PollsFirst(now);
        var claim = held ?? await claims.ClaimAsync(free, now, cancellationToken);
        if (held is null)
        {
            // Only a claim round sees the pauses; a hold for late polls leaves what it knew of them as it was.
            status.SubmitPaused = claim.BlockedBy?.StartsWith("paused", StringComparison.Ordinal) == true;
        }

        if (status.SetSubmitBlockedBy(claim.BlockedBy) && claim.BlockedBy is not null)
        {
            LogBlocked(claim.BlockedBy);
        }

        _idle = claim.Rows.Count > 0 || claim.BlockedBy is not null || Running > 0 ? engine.CurrentValue.IdleTick : Longer(_idle);
        return new ClaimRound(claim.Rows, (row, stoppingToken) => Work(row, claim.IsProbe, stoppingToken), Held: claim.BlockedBy is not null)
        {
            RetryAt = claim.RetryAt,
        };
    }

    /// <summary>A hold on new submits while this node's polls fall behind (<see cref="EngineOptions.PollsFirstAbove"/>).</summary>
    private SubmitClaim? PollsFirst(DateTimeOffset now)
    {
        var threshold = engine.CurrentValue.PollsFirstAbove;
        // The reason is logged when it changes, so it names the setting rather than each round's figure.
        return threshold > TimeSpan.Zero && pollLateness.Behind(now) > threshold
            ? SubmitClaim.Blocked($"polls first: this node's polls start more than {threshold.TotalMilliseconds:0} ms late", now + PollsFirstRecheck)
            : null;
    }

    /// <summary>The idle wait, or sooner when a held round said when to look again (the next send slot).</summary>
    protected override Task<TimeSpan> WaitAfterAsync(ClaimRound round, CancellationToken cancellationToken) =>
        Task.FromResult(round.RetryAt is { } retryAt && retryAt - Time.GetUtcNow() < _idle ? retryAt - Time.GetUtcNow() : _idle);

    protected override void Woken() => _idle = engine.CurrentValue.IdleTick;

    private TimeSpan Longer(TimeSpan idle) => TimeSpan.FromTicks(Math.Min(idle.Ticks * 2, engine.CurrentValue.IdleTickMax.Ticks));

    private async Task Work(ClaimedRequest row, bool isProbe, CancellationToken stoppingToken)
    {
        using var lease = work.Begin(row.Id, row.LeaseExpiresAt, stoppingToken);
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["OutTaskId"] = row.OutTaskId, ["BatchId"] = row.BatchId });
        using var activity = JobsMetrics.Start("submit", row.OutTaskId, row.Model, row.BatchId);
        try
        {
            await processor.SubmitAsync(row, isProbe, lease.Token);
        }
        catch (OperationCanceledException) when (lease.Token.IsCancellationRequested)
        {
            // Stopping, or the lease was lost: the row goes back (release or lease expiry) and is asked about first.
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            // The outcome could not be recorded. The lease runs out and the row comes back with attempts above one,
            // so whatever happened upstream is found by a query before anything is sent again.
            LogRecordFailed(row.OutTaskId, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Submitting waits: {Reason}")]
    private partial void LogBlocked(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the outcome for {OutTaskId} ({Reason}); its lease will run out and it will be checked again")]
    private partial void LogRecordFailed(string outTaskId, string reason);
}
