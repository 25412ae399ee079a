namespace Aireiter.Jobs.Polling;

/// <summary>How late one heartbeat interval's polls were: the count and the 50th/99th percentile and worst lateness.</summary>
public sealed record LatenessWindow(int Polls, int P50Ms, int P99Ms, int MaxMs);

/// <summary>
/// How late this node's polls start compared with when they were due, like a queue's latency in Sidekiq:
/// the first thing to rise when a node has more tasks in flight than it can keep up with. Each heartbeat
/// takes the interval's figures and starts a new one.
/// </summary>
public sealed class PollLateness
{
    /// <summary>How long a reading of the poller stands: older ones say nothing about now.</summary>
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private List<double> _samples = [];
    private double _smoothedMs;
    private DateTimeOffset _lastPollAt;
    private DateTimeOffset _lastFullRoundAt;

    /// <summary>A poll started <paramref name="lateness"/> after it was due, at <paramref name="at"/>.</summary>
    public void Record(TimeSpan lateness, DateTimeOffset at)
    {
        var ms = Math.Max(0, lateness.TotalMilliseconds);
        lock (_gate)
        {
            _samples.Add(ms);
            // Smoothed over about the last ten polls: one slow start does not count as falling behind.
            _smoothedMs += (ms - _smoothedMs) * 0.1;
            _lastPollAt = at;
        }
    }

    /// <summary>The poller's claim round at <paramref name="at"/> filled every free slot: more may be due than it can start.</summary>
    public void RecordFullRound(DateTimeOffset at)
    {
        lock (_gate)
        {
            _lastFullRoundAt = at;
        }
    }

    /// <summary>
    /// How late the poller is falling behind at <paramref name="now"/>: the smoothed lateness of its latest polls while
    /// its slots are full, or null when it keeps up (a free slot, or no poll started within the last second).
    /// </summary>
    public TimeSpan? Behind(DateTimeOffset now)
    {
        lock (_gate)
        {
            return now - _lastPollAt <= Fresh && now - _lastFullRoundAt <= Fresh ? TimeSpan.FromMilliseconds(_smoothedMs) : null;
        }
    }

    /// <summary>The figures since the previous call, or null when no poll started in between.</summary>
    public LatenessWindow? TakeWindow()
    {
        List<double> samples;
        lock (_gate)
        {
            samples = _samples;
            _samples = new List<double>(samples.Count);
        }

        if (samples.Count == 0)
        {
            return null;
        }

        samples.Sort();
        return new LatenessWindow(samples.Count, Percentile(samples, 0.50), Percentile(samples, 0.99), (int)Math.Ceiling(samples[^1]));
    }

    private static int Percentile(List<double> sorted, double p) =>
        (int)Math.Ceiling(sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)]);
}
