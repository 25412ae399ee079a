using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Options;
using Quartz;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>
/// The slow sweep over timed-out tasks: while their reconciliation window lasts, ask the upstream again,
/// so a late result and the credits it cost are still recorded (flagged late).
/// </summary>
[DisallowConcurrentExecution]
public sealed class ReconciliationJob(Transitions transitions, PollProcessor processor, WorkInFlight work,
    IOptionsMonitor<EngineOptions> engine, TimeProvider time) : IJob
{
    public static readonly JobKey Key = new("reconciliation", "housekeeping");
    private const int BatchSize = 100;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var rows = await transitions.ClaimForPollAsync(RequestState.TimedOut, BatchSize, now, now + engine.CurrentValue.LeaseDuration, cancellationToken);
        await Parallel.ForEachAsync(rows, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (row, token) =>
            {
                using var lease = work.Begin(row.Id, token);
                await processor.PollAsync(row, lease.Token);
            });
        context.Result = JobRunReport.Succeeded().With("checked", rows.Count);
    }
}
