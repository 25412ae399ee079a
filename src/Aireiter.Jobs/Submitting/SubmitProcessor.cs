using Aireiter.Client;
using Aireiter.Client.Parameters;
using Aireiter.Client.Protocol;
using Aireiter.Jobs.Callbacks;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Submitting;

/// <summary>
/// Works one request the <see cref="Submitter"/> claimed: a first attempt is sent in its send slot; a request tried
/// before is asked about by out_task_id first and sent only on "not found". Every answer becomes one edge of the
/// lifecycle (running, back to queued, paused, failed), with its log line and metric.
/// </summary>
public sealed partial class SubmitProcessor(
    SubmitClaims claims,
    RequestLifecycle lifecycle,
    SubmitPauses pauses,
    AireiterClient client,
    WakeSignals signals,
    EngineStatus status,
    SendSpacing spacing,
    WorkInFlight work,
    JobsMetrics metrics,
    IOptionsMonitor<EngineOptions> engine,
    IOptionsMonitor<PollingOptions> polling,
    TimeProvider time,
    ILogger<SubmitProcessor> logger)
{
    private static readonly TimeSpan SlotTolerance = TimeSpan.FromMilliseconds(20);

    public async Task SubmitAsync(ClaimedRequest row, bool isProbe, CancellationToken cancellationToken)
    {
        if (row.Attempts > 1)
        {
            await WaitUntil(row.SendAt, cancellationToken);
            await QueryFirst(row, isProbe, cancellationToken);
        }
        else
        {
            await Submit(row, isProbe, row.SendAt, cancellationToken);
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
        var slot = sendAt ?? await claims.TakeSlotAsync(time.GetUtcNow(), cancellationToken);
        await WaitUntil(slot, cancellationToken);
        for (var retake = 0; time.GetUtcNow() - slot > SlotTolerance && retake < 5; retake++)
        {
            slot = await claims.TakeSlotAsync(time.GetUtcNow(), cancellationToken);
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
        if (LeaseLeft(row, options) is { } left)
        {
            await PutBackUnsent(row, left, cancellationToken);
            return;
        }

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

    /// <summary>
    /// The fence before every paid call: null when the submit may leave, else how much of the lease is left. Once a lease
    /// runs out, another claim may ask the upstream about the request, hear "not found" and submit it; if this node's
    /// submit landed too, the image would be paid for twice. So a submit leaves only while this node's lease, as the
    /// claim or its last committed renewal wrote it, has more than one renewal period (a third of the lease) left. A
    /// node whose renewals fall behind (their statement waits on a lock, the process stalls) sends nothing.
    /// </summary>
    private TimeSpan? LeaseLeft(ClaimedRequest row, EngineOptions options)
    {
        var left = (work.LeaseExpiresAt(row.Id) ?? DateTimeOffset.MinValue) - time.GetUtcNow();
        return left > options.LeaseDuration / 3 ? null : left;
    }

    /// <summary>Not sent, because the lease was running out: back to queued, due now, the attempt given back.</summary>
    private async Task PutBackUnsent(ClaimedRequest row, TimeSpan left, CancellationToken cancellationToken)
    {
        // Logged first: the write may wait on the very lock that held the renewals up.
        LogLeaseRunningOut(row.OutTaskId, left);
        var now = time.GetUtcNow();
        var detail = $"Not sent: this node's lease had {left.TotalMilliseconds:0} ms left, less than one renewal period";
        await lifecycle.RetryLaterAsync(row.Id, now, now, "lease_running_out", detail, detail, countAttempt: false, cancellationToken);
        metrics.Submitted("lease_running_out", row.Model);
    }

    private async Task WaitUntil(DateTimeOffset at, CancellationToken cancellationToken)
    {
        var wait = at - time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, time, cancellationToken);
        }
    }

    private async Task Accepted(ClaimedRequest row, SubmittedTask task, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var timings = polling.CurrentValue.For(row.Model);
        var moved = await lifecycle.SubmittedAsync(row.Id, now, task.TaskId, task.EstimatedCredits, now + timings.Deadline,
            now + timings.InitialDelay(Random.Shared), cancellationToken);
        signals.Poll.Raise(); // the poller sleeps until its next due poll: this one may be sooner
        metrics.Submitted("accepted", row.Model);
        LogSubmitted(row.OutTaskId, task.EstimatedCredits, moved);
    }

    /// <summary>The upstream already has the task (an earlier submit did land): take it as ours, and poll it now.</summary>
    private async Task Adopt(ClaimedRequest row, TaskSnapshot task, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var submittedAt = task.CreatedAt is { } created && created <= now ? created : now;
        var moved = await lifecycle.AdoptedAsync(row.Id, now, task.TaskId, submittedAt, submittedAt + polling.CurrentValue.For(row.Model).Deadline,
            $"the upstream already had it ({task.RawStatus ?? "no status"}); not submitted again", cancellationToken);
        if (moved)
        {
            signals.Poll.Raise();
        }

        metrics.Submitted("adopted", row.Model);
        LogAdopted(row.OutTaskId, task.RawStatus);
    }

    private async Task Requeue(ClaimedRequest row, OutcomeKind kind, string? message, TimeSpan? retryAfter, bool countAttempt,
        CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        var now = time.GetUtcNow();
        var delay = kind == OutcomeKind.Ambiguous
            ? retryAfter ?? options.AmbiguityDelay
            : Backoff.For(row.Attempts, options.RetryBaseDelay, options.RetryMaxDelay, retryAfter, Random.Shared);
        await lifecycle.RetryLaterAsync(row.Id, now, now + delay, ErrorKind(kind), message,
            $"{kind}: {message} (next try in {delay.TotalSeconds:0.#} s)", countAttempt, cancellationToken);
        metrics.Submitted("retry_later", row.Model);
        LogRequeued(row.OutTaskId, kind, delay, message);
    }

    private async Task PauseAndRequeue(ClaimedRequest row, string reason, string? message, CancellationToken cancellationToken)
    {
        var options = engine.CurrentValue;
        status.SubmitPaused = true;
        await pauses.PauseAsync(reason, message ?? reason, options.PauseProbeInterval, "engine", cancellationToken);
        await lifecycle.PausedAsync(row.Id, time.GetUtcNow(), reason, message, cancellationToken);
        metrics.Submitted("paused", row.Model);
    }

    private async Task PutBackWhilePaused(ClaimedRequest row, CancellationToken cancellationToken)
    {
        await lifecycle.PausedAsync(row.Id, time.GetUtcNow(), "paused", "Not sent: submitting is paused for the cluster.", cancellationToken);
        metrics.Submitted("paused", row.Model);
    }

    private async Task Fail(ClaimedRequest row, string kind, string? message, CancellationToken cancellationToken)
    {
        await lifecycle.GaveUpAsync(row.Id, time.GetUtcNow(), kind, message, cancellationToken);
        metrics.Submitted(kind, row.Model);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not sending {OutTaskId}: this node's lease on it has {LeaseLeft} left, less than one renewal period; it goes back to the queue")]
    private partial void LogLeaseRunningOut(string outTaskId, TimeSpan leaseLeft);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Failed {OutTaskId} ({Kind}): {UpstreamMessage}")]
    private partial void LogFailed(string outTaskId, string kind, string? upstreamMessage);
}
