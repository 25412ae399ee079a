using Aireiter.Client;
using Aireiter.Client.Protocol;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Polling;

/// <summary>
/// Asks the upstream about one task this node holds and records the answer: outputs and credits on
/// completion, the upstream's error on failure, otherwise the next poll, and a time-out at the deadline.
/// Used for running tasks and, after a time-out, to reconcile late results.
/// </summary>
public sealed partial class PollProcessor(
    AireiterClient client,
    RequestLifecycle lifecycle,
    PollReschedules reschedules,
    IOptionsMonitor<PollingOptions> polling,
    IOptionsMonitor<Outputs.StorageOptions> storage,
    JobsMetrics metrics,
    TimeProvider time,
    ILogger<PollProcessor> logger)
{
    public async Task PollAsync(ClaimedRequest row, CancellationToken cancellationToken)
    {
        var timings = polling.CurrentValue.For(row.Model);
        var late = row.State == RequestState.TimedOut;

        // Never ask again sooner than IntervalMin after the last answer, whatever made the row due early: a callback,
        // a lease taken over, or the final check at the deadline. Past the deadline there is no later turn: time out.
        if (row.PolledAt is { } last && time.GetUtcNow() is var early && early - last < timings.IntervalMin)
        {
            var earliest = last + timings.IntervalMin;
            if (!late && row.DeadlineAt is { } end && earliest > end)
            {
                if (early >= end)
                {
                    await TimeOut(row, early, $"(not asked again: the last answer came {(end - last).TotalSeconds:0.##} s before the deadline)", cancellationToken);
                    return;
                }

                earliest = end;
            }

            await reschedules.RescheduleAsync(new PollReschedule(row.Id, row.State, earliest, last), cancellationToken);
            return;
        }

        // One query: a poll is never retried inside. Without a clear answer it is simply due again at the next interval.
        var outcome = await client.PollByOutTaskIdAsync(row.SentOutTaskId, cancellationToken);
        var now = time.GetUtcNow();

        if (outcome is { Kind: OutcomeKind.Accepted, Value: { Status: UpstreamStatus.Completed } done })
        {
            var download = storage.CurrentValue.OutputDirectory is not null;
            var detail = $"{done.OutputUrls.Count} output(s), {done.CreditsUsed?.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"} credits";
            var moved = late
                ? await lifecycle.LateResultAsync(row.Id, now, succeeded: true, done.CreditsUsed, done.OutputUrls, download, detail, cancellationToken)
                : await lifecycle.CompletedAsync(row.Id, now, done.CreditsUsed, done.OutputUrls, download, detail, cancellationToken);
            metrics.Polled(late ? "late_completed" : "completed", row.Model);
            metrics.CreditsUsed(moved ? done.CreditsUsed : null, row.Model);
            LogCompleted(row.OutTaskId, done.OutputUrls.Count, done.CreditsUsed, late, moved);
            return;
        }

        if (outcome is { Kind: OutcomeKind.Accepted, Value: { Status: UpstreamStatus.Failed } failed })
        {
            var message = failed.Error ?? "The upstream reported the task failed without a reason.";
            var moved = late
                ? await lifecycle.LateResultAsync(row.Id, now, succeeded: false, failed.CreditsUsed, [], downloadOutputs: false, message, cancellationToken)
                : await lifecycle.FailedAsync(row.Id, now, failed.CreditsUsed, message, cancellationToken);
            metrics.Polled(late ? "late_failed" : "failed", row.Model);
            metrics.CreditsUsed(moved ? failed.CreditsUsed : null, row.Model);
            LogFailed(row.OutTaskId, message);
            return;
        }

        if (late)
        {
            metrics.Polled("late_pending", row.Model);
            await KeepReconciling(row, now, cancellationToken);
            return;
        }

        // Not finished, or no clear answer (not found, transient): poll again, but never past the deadline.
        var deadline = row.DeadlineAt ?? now;
        if (now >= deadline)
        {
            await TimeOut(row, now, outcome.Value?.RawStatus ?? $"{outcome.Kind} {outcome.Message}", cancellationToken, polledAt: now);
            return;
        }

        var next = now + timings.Interval(Random.Shared);
        if (outcome.RetryAfter is { } wait && now + wait > next)
        {
            next = now + wait;
        }

        // The last turn is at the deadline itself; it asks only if IntervalMin has passed by then (the guard above).
        await reschedules.RescheduleAsync(new PollReschedule(row.Id, RequestState.Running, next < deadline ? next : deadline, now), cancellationToken);
        metrics.Polled(outcome.Kind == OutcomeKind.Accepted ? "pending" : "no_answer", row.Model);
        if (outcome.Kind != OutcomeKind.Accepted)
        {
            LogNoAnswer(row.OutTaskId, outcome.Kind, outcome.Message);
        }
    }

    private async Task TimeOut(ClaimedRequest row, DateTimeOffset now, string lastStatus, CancellationToken cancellationToken,
        DateTimeOffset? polledAt = null)
    {
        var options = polling.CurrentValue;
        var until = (row.DeadlineAt ?? now) + options.ReconcileWindow;
        var message = $"Not finished by the deadline ({options.For(row.Model).Deadline.TotalSeconds:0} s after submit); last status: {lastStatus}";
        await lifecycle.TimedOutAsync(row.Id, now, until, until > now ? now + options.ReconcileInterval : null, polledAt ?? row.PolledAt, message,
            cancellationToken);
        metrics.Polled("timed_out", row.Model);
        LogTimedOut(row.OutTaskId, until);
    }

    private async Task KeepReconciling(ClaimedRequest row, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var next = now + polling.CurrentValue.ReconcileInterval;
        if (row.ReconcileUntil is { } until && next <= until)
        {
            await reschedules.RescheduleAsync(new PollReschedule(row.Id, RequestState.TimedOut, next, now), cancellationToken);
            return;
        }

        // The window is over: stop asking. A result arriving later is not recorded.
        await lifecycle.StopReconcilingAsync(row.Id, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Completed {OutTaskId}: {Outputs} output(s), {CreditsUsed} credits (late: {Late}, recorded: {Recorded})")]
    private partial void LogCompleted(string outTaskId, int outputs, decimal? creditsUsed, bool late, bool recorded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Upstream failed {OutTaskId}: {UpstreamMessage}")]
    private partial void LogFailed(string outTaskId, string upstreamMessage);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Timed out {OutTaskId}; checking for a late result until {Until}")]
    private partial void LogTimedOut(string outTaskId, DateTimeOffset until);

    [LoggerMessage(Level = LogLevel.Debug, Message = "No answer for {OutTaskId} ({Kind}: {UpstreamMessage}); polling again")]
    private partial void LogNoAnswer(string outTaskId, OutcomeKind kind, string? upstreamMessage);
}
