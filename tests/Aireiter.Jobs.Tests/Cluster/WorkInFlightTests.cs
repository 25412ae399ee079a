using Aireiter.Jobs.Cluster;

namespace Aireiter.Jobs.Tests.Cluster;

/// <summary>The lease keeper records renewals, and stops work on rows it lost while that work may be ending on its own.</summary>
public sealed class WorkInFlightTests
{
    private static readonly DateTimeOffset LeaseEnd = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Renewed_MovesTheLeaseEndOfTheRowsItNames_AndOnlyThose()
    {
        var work = new WorkInFlight();
        using var a = work.Begin(1, LeaseEnd, CancellationToken.None);
        using var b = work.Begin(2, LeaseEnd, CancellationToken.None);

        work.Renewed([1, 3], LeaseEnd.AddSeconds(30));

        Assert.Equal(LeaseEnd.AddSeconds(30), work.LeaseExpiresAt(1));
        Assert.Equal(LeaseEnd, work.LeaseExpiresAt(2));
        Assert.Null(work.LeaseExpiresAt(3));
        b.Dispose();
        Assert.Null(work.LeaseExpiresAt(2));
    }

    [Fact]
    public void Lost_StopsTheWorkOnARowItNames_AndLeavesTheOthers()
    {
        var work = new WorkInFlight();
        using var a = work.Begin(1, LeaseEnd, CancellationToken.None);
        using var b = work.Begin(2, LeaseEnd, CancellationToken.None);

        work.Lost([1]);

        Assert.True(a.Token.IsCancellationRequested);
        Assert.False(b.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task Lost_IsHarmless_WhenTheWorkEndsAtTheSameMoment()
    {
        // A poll that finishes while the lease keeper finds its lease gone: the keeper once cancelled a source the work had
        // just disposed, and the exception stopped the whole node (seen under 10,000 tasks in flight).
        var work = new WorkInFlight();
        var span = TimeSpan.FromMilliseconds(500);
        using var start = new Barrier(2);
        var rounds = 0;
        var churn = Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < span)
            {
                using var lease = work.Begin(7, LeaseEnd, CancellationToken.None);
                rounds++;
            }
        }, TaskCreationOptions.LongRunning);

        var keeper = Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < span)
            {
                work.Lost([7]);
            }
        }, TaskCreationOptions.LongRunning);

        await Task.WhenAll(churn, keeper);
        Assert.True(rounds > 1000, $"only {rounds} leases began and ended: the two sides barely met");
        Assert.Equal(0, work.Count);
    }
}
