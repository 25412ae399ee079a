using Aireiter.Jobs.Batches;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>Records the end of every batch whose requests are all final, with its summary, and logs it.</summary>
[DisallowConcurrentExecution]
public sealed partial class BatchCompletionJob(BatchStore batches, ILogger<BatchCompletionJob> logger) : IJob
{
    public static readonly JobKey Key = new("batch-completion", "housekeeping");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var finished = await batches.FinishCompletedAsync(cancellationToken);
        foreach (var batch in finished)
        {
            using var scope = logger.BeginScope(new Dictionary<string, object> { ["Batch"] = batch.Name });
            LogFinished(batch.Name, batch.Total, batch.Count("succeeded"), batch.Count("failed"), batch.Count("timed_out"),
                batch.Count("cancelled"), batch.CreditsUsed, batch.EstimatedCredits);
        }

        context.Result = JobRunReport.Succeeded().With("finished", finished.Count);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Batch {Batch} finished: {Total} requests, {Succeeded} succeeded, {Failed} failed, {TimedOut} timed out, {Cancelled} cancelled; {CreditsUsed} credits used (estimated {CreditsEstimated})")]
    private partial void LogFinished(string batch, long total, long succeeded, long failed, long timedOut, long cancelled, decimal creditsUsed, decimal creditsEstimated);
}
