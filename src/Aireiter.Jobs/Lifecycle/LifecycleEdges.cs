using Aireiter.Jobs.Requests;

namespace Aireiter.Jobs.Lifecycle;

/// <summary>One allowed move of a request: the <see cref="RequestLifecycle"/> method that makes it, from where, to where, and who moves it.</summary>
public sealed record LifecycleEdge(string Method, IReadOnlyList<RequestState> From, IReadOnlyList<RequestState> To, string MovedBy);

/// <summary>
/// Every allowed state change of a request, in one table. A request moves only along these; the edge tests run each
/// method against a row in every state and check that exactly the states listed here move, to the states listed here.
/// <code>
///   queued ──claim──▶ submitting ──submitted/adopted──▶ running ──completed──▶ succeeded
///     ▲                 │  │  └──gave up──▶ failed           │  └──failed──▶ failed
///     └─retry later/paused/lease expired/handed back         └──deadline──▶ timed_out ──late result──▶ succeeded | failed
///   failed | timed_out ──retried──▶ queued          queued | running ──cancelled──▶ cancelled
/// </code>
/// </summary>
public static class LifecycleEdges
{
    private static readonly RequestState[] Queued = [RequestState.Queued];
    private static readonly RequestState[] Submitting = [RequestState.Submitting];
    private static readonly RequestState[] Running = [RequestState.Running];

    public static IReadOnlyList<LifecycleEdge> All { get; } =
    [
        new(nameof(RequestLifecycle.ClaimForSubmitAsync), Queued, Submitting, "Submitter (claim round, under the limit lock)"),
        new(nameof(RequestLifecycle.SubmittedAsync), Submitting, Running, "Submitter: the upstream accepted the task"),
        new(nameof(RequestLifecycle.AdoptedAsync), Submitting, Running, "Submitter: the upstream already had the task"),
        new(nameof(RequestLifecycle.RetryLaterAsync), Submitting, Queued, "Submitter: no clear answer, or slow down"),
        new(nameof(RequestLifecycle.PausedAsync), Submitting, Queued, "Submitter: submitting paused for the cluster"),
        new(nameof(RequestLifecycle.GaveUpAsync), Submitting, [RequestState.Failed], "Submitter: refused upstream, or out of attempts"),
        new(nameof(RequestLifecycle.LeaseExpiredAsync), Submitting, Queued, "Sweeper: the submitting node died or stalled"),
        new(nameof(RequestLifecycle.HandedBackAsync), Submitting, Queued, "Submitter and poller, on a graceful stop"),
        new(nameof(RequestLifecycle.CompletedAsync), Running, [RequestState.Succeeded], "Poller"),
        new(nameof(RequestLifecycle.FailedAsync), Running, [RequestState.Failed], "Poller"),
        new(nameof(RequestLifecycle.TimedOutAsync), Running, [RequestState.TimedOut], "Poller, at the deadline"),
        new(nameof(RequestLifecycle.LateResultAsync), [RequestState.TimedOut], [RequestState.Succeeded, RequestState.Failed], "Sweeper (reconciliation)"),
        new(nameof(RequestLifecycle.PollNowAsync), Running, Running, "Callback endpoint (no event: the poll decides)"),
        new(nameof(RequestLifecycle.RetriedAsync), [RequestState.Failed, RequestState.TimedOut], Queued, "Operator (CLI, API, dashboard)"),
        new(nameof(RequestLifecycle.CancelledAsync), [RequestState.Queued, RequestState.Running], [RequestState.Cancelled], "Operator (CLI, API, dashboard)"),
    ];

    /// <summary>The methods of <see cref="RequestLifecycle"/> that change no state: leases, poll times, new rows, retention.</summary>
    public static IReadOnlyList<string> LeaseOperations { get; } =
    [
        nameof(RequestLifecycle.ClaimForPollAsync),
        nameof(RequestLifecycle.NextDueAsync),
        nameof(RequestLifecycle.ReschedulePollsAsync),
        nameof(RequestLifecycle.StopReconcilingAsync),
        nameof(RequestLifecycle.RenewAsync),
        nameof(RequestLifecycle.InsertQueuedAsync),
        nameof(RequestLifecycle.ForgetEventsAsync),
        nameof(RequestLifecycle.ForgetCompletionCountsAsync),
    ];
}
