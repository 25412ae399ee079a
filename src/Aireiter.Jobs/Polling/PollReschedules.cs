using System.Collections.Concurrent;
using Aireiter.Jobs.Lifecycle;

namespace Aireiter.Jobs.Polling;

/// <summary>
/// Writes "not finished, ask again at T" for many polls in one statement and one commit. Most polls end this
/// way, and one commit each was most of the database's work at 10,000 tasks in flight. Each caller still
/// waits for its own row to be written (group commit): while one write runs, the next group gathers, so a
/// lone poll is written at once and a busy node writes dozens together. A failed write fails every caller
/// in its group; their rows are due again when their leases run out.
/// </summary>
public sealed class PollReschedules(RequestLifecycle lifecycle)
{
    private const int MaxGroup = 1000;

    private readonly ConcurrentQueue<(PollReschedule Poll, TaskCompletionSource<bool> Written)> _pending = new();
    private int _writing;

    /// <summary>Writes the next poll time of a row this node holds; false when the row was no longer its own.</summary>
    public async Task<bool> RescheduleAsync(PollReschedule poll, CancellationToken cancellationToken)
    {
        var written = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending.Enqueue((poll, written));
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            _ = Task.Run(WriteGroups, CancellationToken.None);
        }

        return await written.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteGroups()
    {
        while (true)
        {
            var group = new List<(PollReschedule Poll, TaskCompletionSource<bool> Written)>();
            while (group.Count < MaxGroup && _pending.TryDequeue(out var next))
            {
                group.Add(next);
            }

            if (group.Count == 0)
            {
                // Hand over the writer's role, then look once more: a caller may have queued just before it was free.
                Volatile.Write(ref _writing, 0);
                if (_pending.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            try
            {
                var written = await lifecycle.ReschedulePollsAsync(group.Select(g => g.Poll).ToList(), CancellationToken.None);
                foreach (var (poll, done) in group)
                {
                    done.TrySetResult(written.Contains(poll.Id));
                }
            }
            catch (Exception ex)
            {
                foreach (var (_, done) in group)
                {
                    done.TrySetException(ex);
                }
            }
        }
    }
}
