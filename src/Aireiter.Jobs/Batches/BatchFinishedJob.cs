using Hangfire;
using Hangfire.Server;
using Microsoft.Extensions.Logging;

namespace Aireiter.Jobs.Batches;

/// <summary>
/// Something to do when a batch has finished. Register your own (<c>services.AddSingleton&lt;IBatchFinishedHandler, …&gt;()</c>)
/// and it runs inside <see cref="BatchFinishedJob"/>, with that job's retries. It may be called twice for one batch
/// (a retry after another handler failed, a node that died mid-run): make it idempotent, e.g. by the delivery id.
/// </summary>
public interface IBatchFinishedHandler
{
    Task HandleAsync(BatchProgress batch, string deliveryId, CancellationToken cancellationToken);
}

/// <summary>
/// A Hangfire job per finished batch: one log line with the batch's figures, then every <see cref="IBatchFinishedHandler"/>
/// (the signed webhook among them when <c>Batches:WebhookUrl</c> is set). Enqueued by the node whose sweep recorded
/// the batch's end; a handler that throws makes the whole job retry.
/// </summary>
[AutomaticRetry(Attempts = 5, DelaysInSeconds = [10, 60, 300, 900, 3600], OnAttemptsExceeded = AttemptsExceededAction.Fail)]
public sealed partial class BatchFinishedJob(BatchStore batches, IEnumerable<IBatchFinishedHandler> handlers, ILogger<BatchFinishedJob> logger)
{
    [JobDisplayName("Batch {0} finished")]
    public async Task<string> RunAsync(string batch, PerformContext? context, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["Batch"] = batch });
        if (await batches.FindAsync(batch, cancellationToken) is not { } id || await batches.ProgressAsync(id, cancellationToken) is not { } progress)
        {
            LogGone(batch);
            return "the batch no longer exists";
        }

        var delivery = context?.BackgroundJob.Id ?? $"batch-{id}";
        LogNotifying(batch, progress.Total, progress.Count("succeeded"), progress.Count("failed") + progress.Count("timed_out"), progress.CreditsUsed);
        foreach (var handler in handlers)
        {
            await handler.HandleAsync(progress, delivery, cancellationToken);
        }

        return $"{progress.Total} requests, {progress.Count("succeeded")} succeeded; {handlers.Count()} handlers ran";
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Batch {Batch} is done: {Total} requests, {Succeeded} succeeded, {Failed} failed or timed out, {CreditsUsed} credits used")]
    private partial void LogNotifying(string batch, long total, long succeeded, long failed, decimal creditsUsed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Batch {Batch} finished but no longer exists; nothing to announce")]
    private partial void LogGone(string batch);
}
