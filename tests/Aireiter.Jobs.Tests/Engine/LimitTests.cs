using Aireiter.Jobs.Requests;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Engine;

/// <summary>Limits held in the database, so they hold across every node of the cluster.</summary>
public sealed class LimitTests
{
    private static SimulatorOptions SlowSimulator()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(100), CompletedAfter = TimeSpan.FromMilliseconds(700), Jitter = TimeSpan.Zero };
        return simulator;
    }

    [Fact]
    public async Task InFlightLimits_GlobalAndPerModel_HoldAcrossTwoNodes()
    {
        await using var harness = await EngineHarness.StartAsync("limits-inflight", SlowSimulator(),
            ("Engine:Limits:MaxInFlight", "4"),
            ("Engine:Limits:MaxInFlightPerModel:seedream_v5_lite", "1"));
        await Task.WhenAll(harness.StartWorkerAsync("node-a"), harness.StartWorkerAsync("node-b"));

        await harness.EnqueueAsync(12, "gpt");
        await harness.EnqueueAsync(6, "seed", model: "seedream_v5_lite");
        var peakTotal = 0L;
        var peakSeedream = 0L;
        await harness.WaitUntilAsync(async () =>
        {
            peakTotal = Math.Max(peakTotal, await harness.ScalarAsync("select count(*) from generation_requests where state in ('submitting', 'running')"));
            peakSeedream = Math.Max(peakSeedream, await harness.ScalarAsync(
                "select count(*) from generation_requests where state in ('submitting', 'running') and model = 'seedream_v5_lite'"));
            return await harness.ScalarAsync("select count(*) from generation_requests where state not in ('succeeded')") == 0;
        }, TimeSpan.FromSeconds(60), "all succeeded");

        Assert.InRange(peakTotal, 2, 4);
        Assert.Equal(1, peakSeedream);
        // The simulator's view agrees: never more than four unfinished tasks at any submit.
        var tasks = harness.Simulator.Upstream.Tasks();
        var mostAtOnce = tasks.Max(t => tasks.Count(o => o.CreatedAt <= t.CreatedAt && o.FinishesAt > t.CreatedAt));
        Assert.True(mostAtOnce <= 4, $"{mostAtOnce} tasks were unfinished upstream at once");
    }

    [Fact]
    public async Task TheDailyCreditBudget_StopsNewSubmits_AndSaysWhy()
    {
        await using var harness = await EngineHarness.StartAsync("limits-budget", SlowSimulator(),
            ("Engine:Limits:DailyCreditBudget", "30"),
            ("Engine:Limits:FallbackEstimatedCredits", "10"));
        var worker = await harness.StartWorkerAsync();

        await harness.EnqueueAsync(8);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
            "select count(*) from generation_requests where state = 'succeeded'") == 3, TimeSpan.FromSeconds(30), "three done");
        await harness.WaitUntilAsync(async () => (await worker.ReadyReportAsync()).Contains("daily credit budget reached", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the reason shown");

        var rows = await harness.ReadAsync();
        Assert.Equal(3, rows.Values.Count(r => r.State == RequestState.Succeeded));
        Assert.Equal(5, rows.Values.Count(r => r.State == RequestState.Queued));
        Assert.Equal(30m, rows.Values.Sum(r => r.CreditsUsed ?? 0));
        Assert.Equal(3, harness.Simulator.Upstream.Stats().TasksBilled);
    }
}
