using System.Net.Http.Json;
using System.Text.Json;
using Aireiter.Jobs.Polling;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Engine;

public sealed class PollLatenessTests
{
    [Fact]
    public void AWindow_GivesTheMedian_The99thPercentile_AndTheWorst_ThenStartsAfresh()
    {
        var lateness = new PollLateness();
        foreach (var ms in Enumerable.Range(1, 100).Reverse())
        {
            lateness.Record(TimeSpan.FromMilliseconds(ms), DateTimeOffset.UnixEpoch);
        }

        lateness.Record(TimeSpan.FromMilliseconds(-30), DateTimeOffset.UnixEpoch); // early (a callback woke the poller): counts as on time

        Assert.Equal(new LatenessWindow(101, 50, 99, 100), lateness.TakeWindow());
        Assert.Null(lateness.TakeWindow());
        lateness.Record(TimeSpan.FromMilliseconds(7.2), DateTimeOffset.UnixEpoch);
        Assert.Equal(new LatenessWindow(1, 8, 8, 8), lateness.TakeWindow());
    }

    [Fact]
    public void ThePollerIsBehind_OnlyWhileItsSlotsAreFullAndItsLatestPollsStartLate()
    {
        var lateness = new PollLateness();
        var now = DateTimeOffset.UnixEpoch.AddHours(1);
        foreach (var _ in Enumerable.Range(0, 30))
        {
            lateness.Record(TimeSpan.FromSeconds(1), now);
        }

        Assert.Null(lateness.Behind(now)); // late, but a slot was free: more polls would not start sooner
        lateness.RecordFullRound(now);
        Assert.InRange(lateness.Behind(now)!.Value, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(1));

        // Smoothed: a few polls on time bring it down, none late alone brings it up.
        foreach (var _ in Enumerable.Range(0, 20))
        {
            lateness.Record(TimeSpan.Zero, now);
        }

        Assert.True(lateness.Behind(now) < TimeSpan.FromMilliseconds(150), $"{lateness.Behind(now)}");
        Assert.Null(lateness.Behind(now.AddSeconds(2))); // nothing started for two seconds: no word on now
    }

    [Fact]
    public async Task ANodeWhosePollsFallBehind_HoldsNewSubmits_UntilTheyCatchUp()
    {
        // One poll at a time against an upstream that answers in 50 ms: twenty polls a second at best, while each task
        // lives two seconds and wants a poll every 100-200 ms. Ten submits a second fill the node faster than it can poll.
        // It must stop adding tasks it cannot poll, and still finish every request.
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(100), CompletedAfter = TimeSpan.FromSeconds(2), Jitter = TimeSpan.Zero };
        simulator.Faults.Latency = TimeSpan.FromMilliseconds(50);
        await using var harness = await EngineHarness.StartAsync("polls-first", simulator,
            ("Engine:MaxConcurrentPolls", "1"), ("Engine:Limits:SubmitsPerSecond", "10"), ("Aireiter:Polling:Deadline", "00:01:00"));
        var worker = await harness.StartWorkerAsync();
        await harness.EnqueueAsync(30);

        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(30, await harness.ScalarAsync("select count(*) from generation_requests where state = 'succeeded'"));
        Assert.Contains(worker.Output, l => l.Contains("Submitting waits: polls first", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ANodesHeartbeat_ReportsHowLateItsPollsStarted()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(100), CompletedAfter = TimeSpan.FromSeconds(4), Jitter = TimeSpan.Zero };
        await using var harness = await EngineHarness.StartAsync("poll-lateness", simulator, ("Aireiter:Polling:Deadline", "00:00:30"));
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from cluster_nodes"));
        var worker = await harness.StartWorkerAsync();
        await harness.EnqueueAsync(20);

        // Twenty tasks polled every 100-200 ms: a one-second heartbeat interval holds a hundred or more polls.
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync("select count(*) from cluster_nodes where polls_last_interval >= 50") == 1,
            TimeSpan.FromSeconds(15), "a heartbeat with the interval's polls");
        using var http = new HttpClient();
        var stats = await http.GetFromJsonAsync<JsonElement>(new Uri(worker.BaseAddress, "/api/stats"));
        var node = stats.GetProperty("nodes").EnumerateArray().Single();
        var lateness = node.GetProperty("pollLateness");
        var (p50, p99, max) = (lateness.GetProperty("p50Ms").GetInt32(), lateness.GetProperty("p99Ms").GetInt32(), lateness.GetProperty("maxMs").GetInt32());
        Assert.True(lateness.GetProperty("polls").GetInt32() > 0);
        Assert.True(p50 <= p99 && p99 <= max, $"{p50} / {p99} / {max}");
        Assert.True(max < 5_000, $"a poll started {max} ms late with twenty tasks in flight");
    }
}
