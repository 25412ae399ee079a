using Aireiter.Jobs.Lifecycle;

namespace Aireiter.Jobs.Polling;

/// <summary>
/// Writes "not finished, ask again at T" for many polls in one statement and one commit (<see cref="GroupCommit{T}"/>).
/// Most polls end this way, and one commit each was most of the database's work at 10,000 tasks in flight.
/// </summary>
public sealed class PollReschedules(RequestLifecycle lifecycle)
{
    private readonly GroupCommit<PollReschedule> _writes = new(polls => lifecycle.ReschedulePollsAsync(polls, CancellationToken.None), p => p.Id);

    /// <summary>Writes the next poll time of a row this node holds; false when the row was no longer its own.</summary>
    public Task<bool> RescheduleAsync(PollReschedule poll, CancellationToken cancellationToken) => _writes.WriteAsync(poll, cancellationToken);
}
