using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>
/// Brings back submits whose node died: a Submitting row whose lease ran out goes back to Queued, and
/// (its attempts being above one) is asked about upstream before it is ever sent again. Runs on one node
/// of the cluster at a time.
/// </summary>
[DisallowConcurrentExecution]
public sealed partial class LeaseRecoveryJob(Transitions transitions, WakeSignals signals, TimeProvider time, ILogger<LeaseRecoveryJob> logger) : IJob
{
    public static readonly JobKey Key = new("lease-recovery", "housekeeping");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var recovered = await transitions.RecoverExpiredSubmitsAsync(time.GetUtcNow(), cancellationToken);
        if (recovered > 0)
        {
            LogRecovered(recovered);
            signals.Submit.Raise();
        }

        context.Result = JobRunReport.Succeeded().With("recovered", recovered);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recovered {Count} submits whose lease ran out; each is checked upstream before any resubmit")]
    private partial void LogRecovered(int count);
}
