using System.Collections.Concurrent;

namespace Aireiter.Jobs.Cluster;

/// <summary>
/// The rows this node is working on right now, each with a way to stop its work. The lease keeper renews
/// them; a row whose lease could not be renewed (someone else has it now) has its work cancelled.
/// </summary>
public sealed class WorkInFlight
{
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _work = new();

    public int Count => _work.Count;

    public IReadOnlyCollection<long> Ids => _work.Keys.ToArray();

    /// <summary>Registers a row; dispose the result when its work ends.</summary>
    public Lease Begin(long id, CancellationToken stopping)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _work[id] = cancel;
        return new Lease(this, id, cancel);
    }

    /// <summary>Stops the work on rows this node no longer holds.</summary>
    public void Lost(IEnumerable<long> ids)
    {
        foreach (var id in ids)
        {
            if (!_work.TryGetValue(id, out var cancel))
            {
                continue;
            }

            try
            {
                cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The work ended between the lookup and the cancel, and disposed its source: nothing is left to stop. Letting
                // this escape stopped the lease keeper, and with it the node (seen with 10,000 tasks in flight).
            }
        }
    }

    public sealed class Lease(WorkInFlight owner, long id, CancellationTokenSource cancel) : IDisposable
    {
        public CancellationToken Token => cancel.Token;

        public void Dispose()
        {
            owner._work.TryRemove(new KeyValuePair<long, CancellationTokenSource>(id, cancel));
            cancel.Dispose();
        }
    }
}
