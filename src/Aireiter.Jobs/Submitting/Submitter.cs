using Aireiter.Client;
using Aireiter.Client.Parameters;
using Aireiter.Client.Protocol;
using Aireiter.Jobs.Callbacks;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Submitting;

/// <summary>
/// Claims queued requests and submits them, on every node at once. The guarantees, at each point where a
/// crash can happen:
/// <list type="bullet">
/// <item>Claimed but not sent: the row is Submitting with an expiring lease; it comes back to Queued and is tried again.</item>
/// <item>Sent, answer lost (time-out, dropped connection, crash): the task may exist and be billed. The row comes back
/// with attempts above one, and any claim with attempts above one asks the upstream by out_task_id first:
/// found is adopted as Running, only "not found" is submitted again, with the same id.</item>
/// <item>Accepted and recorded: Running, in one statement with its event.</item>
/// </list>
/// So a request is never lost, and never submitted again while the upstream may already have it.
/// </summary>
public sealed partial class Submitter(
    SubmitClaims claims,
    RequestLifecycle lifecycle,
    SubmitPauses pauses,
    AireiterClient client,
    WakeSignals signals,
    WorkInFlight work,
    EngineStatus status,
    SendSpacing spacing,
    IOptionsMonitor<EngineOptions> engine,
    IOptionsMonitor<PollingOptions> polling,
    TimeProvider time,
    ILogger<Submitter> logger) : ClaimLoop(signals.Submit, time, logger)
{
    private readonly ILogger _logger = logger;

    private static readonly TimeSpan SlotTolerance = TimeSpan.FromMilliseconds(20);

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
        var claim = await claims.ClaimAsync(free, now, cancellationToken);
        status.SubmitPaused = claim.BlockedBy?.StartsWith("paused", StringComparison.Ordinal) == true;
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

    /// <summary>The idle wait, or sooner when a held round said when to look again (the next send slot).</summary>
    protected override Task<TimeSpan> WaitAfterAsync(ClaimRound round, CancellationToken cancellationToken) =>
        Task.FromResult(round.RetryAt is { } retryAt && retryAt - Time.GetUtcNow() < _idle ? retryAt - Time.GetUtcNow() : _idle);

    protected override void Woken() => _idle = engine.CurrentValue.IdleTick;

    private TimeSpan Longer(TimeSpan idle) => TimeSpan.FromTicks(Math.Min(idle.Ticks * 2, engine.CurrentValue.IdleTickMax.Ticks));

    private async Task Work(ClaimedRequest row, bool isProbe, CancellationToken stoppingToken)
    {
        using var lease = work.Begin(row.Id, stoppingToken);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["OutTaskId"] = row.OutTaskId });
        try
        {
            if (row.Attempts > 1)
            {
                await WaitUntil(row.SendAt, lease.Token);
                await QueryFirst(row, isProbe, lease.Token);
            }
            else
            {
                await Submit(row, isProbe, row.SendAt, lease.Token);
            }
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

    /// <summary>A request tried before: the upstream may have it already. Ask, and submit only on "not found".</summary>
    private async Task QueryFirst(ClaimedRequest row, bool isProbe, CancellationToken cancellationToken)
    {
        var found = await client.QueryByOutTaskIdAsync(row.SentOutTaskId, cancellationToken);
        switch (found.Kind)
        {
            case OutcomeKind.Accepted:
                await Adopt(row, found.Value!, cancellationToken);
                return;
            case OutcomeKind.NotFound when row.Attempts > engine.CurrentValue.MaxSubmitAttempts:
                await Fail(row, "gave_up", $"Not submitted after {row.Attempts - 1} attempts; the upstream has no such task.", cancellationToken);
                return;
            case OutcomeKind.NotFound:
                // The claim's send slot went to the query: the submit waits for a slot of its own.
                await Submit(row, isProbe, sendAt: null, cancellationToken);
                return;
            case OutcomeKind.Unauthorized:
                await PauseAndRequeue(row, PauseReasons.Unauthorized, found.Message, cancellationToken);
                return;
            default:
                // Cannot tell whether the task exists: ask again later, never submit blind. Asking is not a submit
                // attempt, so it does not bring the request closer to giving up.
                await Requeue(row, found.Kind, found.Message, found.RetryAfter, countAttempt: false, cancellationToken);
                return;
        }
    }

    /// <summary>
    /// Sends the submit in its send slot. A slot already missed by more than a few milliseconds (a busy machine,
    /// a slow query before it) is not used late, which would bunch sends: a fresh one is taken instead.
    /// </summary>
    private async Task Submit(ClaimedRequest row, bool isProbe, DateTimeOffset? sendAt, CancellationToken cancellationToken)
    {
        var slot = sendAt ?? await claims.TakeSlotAsync(Time.GetUtcNow(), cancellationToken);
        await WaitUntil(slot, cancellationToken);
        for (var retake = 0; Time.GetUtcNow() - slot > SlotTolerance && retake < 5; retake++)
        {
            slot = await claims.TakeSlotAsync(Time.GetUtcNow(), cancellationToken);
            await WaitUntil(slot, cancellationToken);
        }

        await Send(row, isProbe, cancellationToken);
    }

    private async Task Send(ClaimedRequest row, bool isProbe, CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        if (status.SubmitPaused && !isProbe)
        {
            await PutBackWhilePaused(row, cancellationToken);
            return;
        }

        var callbacks = options.Callbacks;
        var request = new SubmitRequest(row.Model, row.Params!, row.SentOutTaskId)
        {
            Metadata = row.Metadata,
            CallbackUrl = callbacks.PublicBaseUrl is { } publicUrl && ModelRules.AcceptsCallback(row.Model)
                ? CallbackSignature.UrlFor(publicUrl, callbacks.Secret!, row.SentOutTaskId)
                : null,
        };

        await spacing.WaitTurnAsync(TimeSpan.FromSeconds(1 / options.Limits.SubmitsPerSecond), cancellationToken);
        var outcome = await client.SubmitAsync(request, cancellationToken);
        switch (outcome.Kind)
        {
            case OutcomeKind.Accepted:
                await Accepted(row, outcome.Value!, cancellationToken);
                if (isProbe)
                {
                    await pauses.ResumeAutomaticAsync(cancellationToken);
                }

                return;
            case OutcomeKind.InvalidRequest or OutcomeKind.ContentRejected:
                await Fail(row, outcome.Kind == OutcomeKind.InvalidRequest ? "invalid_request" : "content_rejected", outcome.Message, cancellationToken);
                return;
            case OutcomeKind.Unauthorized:
                await PauseAndRequeue(row, PauseReasons.Unauthorized, outcome.Message, cancellationToken);
                return;
            case OutcomeKind.InsufficientCredits:
                await PauseAndRequeue(row, PauseReasons.InsufficientCredits, outcome.Message, cancellationToken);
                return;
            case OutcomeKind.Ambiguous:
                // The next claim will query first (attempts is above one by then); give the upstream a moment to know the task.
                await Requeue(row, outcome.Kind, outcome.Message, options.AmbiguityDelay, countAttempt: true, cancellationToken);
                return;
            case OutcomeKind.RateLimited:
            case OutcomeKind.Transient when outcome.CircuitOpen:
                // The upstream (or our breaker) asked us to slow down: back off, but this is never a reason to give up.
                await Requeue(row, outcome.Kind, outcome.Message, outcome.RetryAfter, countAttempt: !outcome.CircuitOpen, cancellationToken);
                return;
            default:
                if (row.Attempts >= options.MaxSubmitAttempts)
                {
                    // Nothing was sent this time, and any earlier attempt was checked by the query before it.
                    await Fail(row, "gave_up", $"Gave up after {row.Attempts} attempts: {outcome.Message}", cancellationToken);
                    return;
                }

                await Requeue(row, outcome.Kind, outcome.Message, outcome.RetryAfter, countAttempt: true, cancellationToken);
                return;
        }
    }

    private async Task WaitUntil(DateTimeOffset at, CancellationToken cancellationToken)
    {
        var wait = at - Time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, Time, cancellationToken);
        }
    }

    private async Task Accepted(ClaimedRequest row, SubmittedTask task, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var timings = polling.CurrentValue.For(row.Model);
        var moved = await lifecycle.SubmittedAsync(row.Id, now, task.TaskId, task.EstimatedCredits, now + timings.Deadline,
            now + timings.InitialDelay(Random.Shared), cancellationToken);
        signals.Poll.Raise(); // the poller sleeps until its next due poll: this one may be sooner
        LogSubmitted(row.OutTaskId, task.EstimatedCredits, moved);
    }

    /// <summary>The upstream already has the task (an earlier submit did land): take it as ours, and poll it now.</summary>
    private async Task Adopt(ClaimedRequest row, TaskSnapshot task, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var submittedAt = task.CreatedAt is { } created && created <= now ? created : now;
        var moved = await lifecycle.AdoptedAsync(row.Id, now, task.TaskId, submittedAt, submittedAt + polling.CurrentValue.For(row.Model).Deadline,
            $"the upstream already had it ({task.RawStatus ?? "no status"}); not submitted again", cancellationToken);
        if (moved)
        {
            signals.Poll.Raise();
        }

        LogAdopted(row.OutTaskId, task.RawStatus);
    }

    private async Task Requeue(ClaimedRequest row, OutcomeKind kind, string? message, TimeSpan? retryAfter, bool countAttempt,
        CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        var now = Time.GetUtcNow();
        var delay = kind == OutcomeKind.Ambiguous
            ? retryAfter ?? options.AmbiguityDelay
            : Backoff.For(row.Attempts, options.RetryBaseDelay, options.RetryMaxDelay, retryAfter, Random.Shared);
        await lifecycle.RetryLaterAsync(row.Id, now, now + delay, ErrorKind(kind), message,
            $"{kind}: {message} (next try in {delay.TotalSeconds:0.#} s)", countAttempt, cancellationToken);
        LogRequeued(row.OutTaskId, kind, delay, message);
    }

    private async Task PauseAndRequeue(ClaimedRequest row, string reason, string? message, CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        status.SubmitPaused = true;
        await pauses.PauseAsync(reason, message ?? reason, options.PauseProbeInterval, "engine", cancellationToken);
        await lifecycle.PausedAsync(row.Id, Time.GetUtcNow(), reason, message, cancellationToken);
    }

    private async Task PutBackWhilePaused(ClaimedRequest row, CancellationToken cancellationToken) =>
        await lifecycle.PausedAsync(row.Id, Time.GetUtcNow(), "paused", "Not sent: submitting is paused for the cluster.", cancellationToken);

    private async Task Fail(ClaimedRequest row, string kind, string? message, CancellationToken cancellationToken)
    {
        await lifecycle.GaveUpAsync(row.Id, Time.GetUtcNow(), kind, message, cancellationToken);
        LogFailed(row.OutTaskId, kind, message);
    }

    private static string ErrorKind(OutcomeKind kind) => kind switch
    {
        OutcomeKind.RateLimited => "rate_limited",
        OutcomeKind.Ambiguous => "ambiguous",
        OutcomeKind.Transient => "transient",
        _ => kind.ToString().ToLowerInvariant(),
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Submitted {OutTaskId}, estimated {EstimatedCredits} credits (recorded: {Recorded})")]
    private partial void LogSubmitted(string outTaskId, decimal? estimatedCredits, bool recorded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Adopted {OutTaskId}: the upstream already had it ({UpstreamStatus}), so it was not submitted again")]
    private partial void LogAdopted(string outTaskId, string? upstreamStatus);

    [LoggerMessage(Level = LogLevel.Information, Message = "Will retry {OutTaskId} in {Delay} after {Kind}: {UpstreamMessage}")]
    private partial void LogRequeued(string outTaskId, OutcomeKind kind, TimeSpan delay, string? upstreamMessage);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Failed {OutTaskId} ({Kind}): {UpstreamMessage}")]
    private partial void LogFailed(string outTaskId, string kind, string? upstreamMessage);

    [LoggerMessage(Level = LogLevel.Information, Message = "Submitting waits: {Reason}")]
    private partial void LogBlocked(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the outcome for {OutTaskId} ({Reason}); its lease will run out and it will be checked again")]
    private partial void LogRecordFailed(string outTaskId, string reason);
}
