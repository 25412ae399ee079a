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
            lateness.Record(TimeSpan.FromMilliseconds(ms));
        }

        lateness.Record(TimeSpan.FromMilliseconds(-30)); // early (a callback woke the poller): counts as on time

        Assert.Equal(new LatenessWindow(101, 50, 99, 100), lateness.TakeWindow());
        Assert.Null(lateness.TakeWindow());
        lateness.Record(TimeSpan.FromMilliseconds(7.2));
        Assert.Equal(new LatenessWindow(1, 8, 8, 8), lateness.TakeWindow());
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
