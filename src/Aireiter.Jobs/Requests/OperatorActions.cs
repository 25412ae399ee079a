using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;

namespace Aireiter.Jobs.Requests;

/// <summary>
/// What an operator does to requests, for one request or a whole batch: retry and cancel. The command line,
/// the API and the dashboard all act through here, so the rules are the same wherever the click comes from.
/// This picks the requests; <see cref="RequestLifecycle"/> moves those still in a state the edge allows.
/// </summary>
public sealed class OperatorActions(IDbContextFactory<JobsDbContext> contexts, RequestLifecycle lifecycle, TimeProvider time)
{
    private static readonly RequestState[] Retryable = [RequestState.Failed, RequestState.TimedOut];
    private static readonly RequestState[] Cancellable = [RequestState.Queued, RequestState.Running];

    /// <summary>One failed or timed-out request back to the queue. False when it is in another state.</summary>
    public async Task<bool> RetryRequestAsync(string outTaskId, CancellationToken cancellationToken) =>
        await lifecycle.RetriedAsync(await Ids(r => r.OutTaskId == outTaskId, Retryable, cancellationToken), time.GetUtcNow(), cancellationToken) == 1;

    /// <summary>A batch's requests in <paramref name="states"/> (failed, timed_out) back to the queue.</summary>
    public async Task<int> RetryBatchAsync(long batchId, IReadOnlyCollection<string> states, CancellationToken cancellationToken) =>
        await lifecycle.RetriedAsync(await Ids(r => r.BatchId == batchId, RetryableOf(states), cancellationToken), time.GetUtcNow(), cancellationToken);

    /// <summary>Every request in <paramref name="states"/> (failed, timed_out) back to the queue: the bulk retry of the failures view.</summary>
    public async Task<int> RetryAllAsync(IReadOnlyCollection<string> states, CancellationToken cancellationToken) =>
        await lifecycle.RetriedAsync(await Ids(_ => true, RetryableOf(states), cancellationToken), time.GetUtcNow(), cancellationToken);

    /// <summary>One queued or running request cancelled. False when it is in another state or being worked right now.</summary>
    public async Task<bool> CancelRequestAsync(string outTaskId, CancellationToken cancellationToken)
    {
        var cancelled = await lifecycle.CancelledAsync(await Ids(r => r.OutTaskId == outTaskId, Cancellable, cancellationToken), time.GetUtcNow(),
            cancellationToken);
        return cancelled.Queued + cancelled.Running == 1;
    }

    /// <summary>
    /// A batch cancelled: queued requests are never sent; running ones stop being polled (the upstream has no
    /// cancel, so they may still be billed). Requests being submitted this very moment are left to finish.
    /// </summary>
    public async Task<(int Queued, int Running)> CancelBatchAsync(long batchId, CancellationToken cancellationToken)
    {
        var cancelled = await lifecycle.CancelledAsync(await Ids(r => r.BatchId == batchId, Cancellable, cancellationToken), time.GetUtcNow(),
            cancellationToken);
        return (cancelled.Queued, cancelled.Running);
    }

    private static RequestState[] RetryableOf(IReadOnlyCollection<string> states) =>
        Retryable.Where(s => states.Contains(s.ToStorage())).ToArray();

    private async Task<List<long>> Ids(System.Linq.Expressions.Expression<Func<GenerationRequest, bool>> target, RequestState[] states,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Requests.AsNoTracking().Where(target).Where(r => states.Contains(r.State)).Select(r => r.Id).ToListAsync(cancellationToken);
    }
}
