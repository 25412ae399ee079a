using System.Collections.Concurrent;

namespace Aireiter.Jobs.Cluster;

/// <summary>
/// The rows this node is working on right now, each with a way to stop its work and the end of its lease as last
/// written. The lease keeper renews them; a row whose lease could not be renewed (someone else has it now) has its
/// work cancelled.
/// </summary>
public sealed class WorkInFlight
{
    private readonly ConcurrentDictionary<long, Lease> _work = new();

    public int Count => _work.Count;

    public IReadOnlyCollection<long> Ids => _work.Keys.ToArray();

    /// <summary>Registers a row claimed with a lease until <paramref name="leaseExpiresAt"/>; dispose the result when its work ends.</summary>
    public Lease Begin(long id, DateTimeOffset leaseExpiresAt, CancellationToken stopping)
    {
        var lease = new Lease(this, id, leaseExpiresAt, CancellationTokenSource.CreateLinkedTokenSource(stopping));
        _work[id] = lease;
        return lease;
    }

    /// <summary>When this node's lease on <paramref name="id"/> runs out as far as it knows; null when it is not working on it.</summary>
    public DateTimeOffset? LeaseExpiresAt(long id) => _work.TryGetValue(id, out var lease) ? lease.ExpiresAt : null;

    /// <summary>Records that the leases of <paramref name="held"/> now run until <paramref name="expiresAt"/> (their renewal committed).</summary>
    public void Renewed(IEnumerable<long> held, DateTimeOffset expiresAt)
    {
        foreach (var id in held)
        {
            if (_work.TryGetValue(id, out var lease))
            {
                lease.ExpiresAt = expiresAt;
            }
        }
    }

    /// <summary>Stops the work on rows this node no longer holds.</summary>
    public void Lost(IEnumerable<long> ids)
    {
        foreach (var id in ids)
        {
            if (!_work.TryGetValue(id, out var lease))
            {
                continue;
            }

            try
            {
                lease.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The work ended between the lookup and the cancel, and disposed its source: nothing is left to stop. Letting
                // this escape stopped the lease keeper, and with it the node (seen with 10,000 tasks in flight).
            }
        }
    }

    public sealed class Lease(WorkInFlight owner, long id, DateTimeOffset expiresAt, CancellationTokenSource cancel) : IDisposable
    {
        private long _expiresAtTicks = expiresAt.UtcTicks;

        public CancellationToken Token => cancel.Token;

        /// <summary>
        /// When the lease runs out as far as this node knows: from the claim, then from each renewal that committed. A
        /// renewal that is late (its statement waits on a lock, the node stalls) leaves it where it was, so it can fall
        /// into the past while the work goes on.
        /// </summary>
        public DateTimeOffset ExpiresAt
        {
            get => new(Interlocked.Read(ref _expiresAtTicks), TimeSpan.Zero);
            internal set => Interlocked.Exchange(ref _expiresAtTicks, value.UtcTicks);
        }

        internal void Cancel() => cancel.Cancel();

        public void Dispose()
        {
            owner._work.TryRemove(new KeyValuePair<long, Lease>(id, this));
            cancel.Dispose();
        }
    }
}
