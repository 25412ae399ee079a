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
    private readonly Lock _gate = new();
    private List<double> _samples = [];

    public void Record(TimeSpan lateness)
    {
        var ms = Math.Max(0, lateness.TotalMilliseconds);
        lock (_gate)
        {
            _samples.Add(ms);
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
