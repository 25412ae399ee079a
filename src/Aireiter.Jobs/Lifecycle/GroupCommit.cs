using System.Collections.Concurrent;
using Npgsql;

namespace Aireiter.Jobs.Lifecycle;

/// <summary>
/// Writes many callers' rows in one statement and one commit (group commit). Each caller waits for its own row:
/// while one group is written the next gathers, so a lone caller is written at once and a busy node writes dozens
/// together. One statement and one commit per row was most of the database's work at a few hundred requests a
/// second; the counters' statement-level triggers, too, run once per statement rather than once per row.
/// <para>
/// A group the database refuses (an error about the data, not the connection) is written again one row at a time, so
/// a row that cannot be written fails only its own caller. A lost connection fails the whole group; its rows are still
/// leased to this node, and due again when their leases run out, as after a crash.
/// </para>
/// </summary>
internal sealed class GroupCommit<T>(Func<IReadOnlyList<T>, Task<HashSet<long>>> write, Func<T, long> idOf, int maxGroup = 1000)
{
    private readonly ConcurrentQueue<(T Row, TaskCompletionSource<bool> Written)> _pending = new();
    private int _writing;

    /// <summary>Writes <paramref name="row"/> with whatever else is waiting; true when the statement wrote it.</summary>
    public async Task<bool> WriteAsync(T row, CancellationToken cancellationToken)
    {
        var written = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending.Enqueue((row, written));
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            _ = Task.Run(WriteGroups, CancellationToken.None);
        }

        // A caller that stops waiting leaves its row in the group: whether it was written is the lease's business.
        return await written.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteGroups()
    {
        while (true)
        {
            var group = new List<(T Row, TaskCompletionSource<bool> Written)>();
            while (group.Count < maxGroup && _pending.TryDequeue(out var next))
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
                await Write(group);
            }
            catch (PostgresException) when (group.Count > 1)
            {
                foreach (var one in group)
                {
                    await WriteOrFail([one]);
                }
            }
            catch (Exception ex)
            {
                Fail(group, ex);
            }
        }
    }

    private async Task WriteOrFail(List<(T Row, TaskCompletionSource<bool> Written)> group)
    {
        try
        {
            await Write(group);
        }
        catch (Exception ex)
        {
            Fail(group, ex);
        }
    }

    private async Task Write(List<(T Row, TaskCompletionSource<bool> Written)> group)
    {
        var written = await write(group.ConvertAll(g => g.Row));
        foreach (var (row, done) in group)
        {
            done.TrySetResult(written.Contains(idOf(row)));
        }
    }

    private static void Fail(List<(T Row, TaskCompletionSource<bool> Written)> group, Exception ex)
    {
        foreach (var (_, done) in group)
        {
            done.TrySetException(ex);
        }
    }
}
