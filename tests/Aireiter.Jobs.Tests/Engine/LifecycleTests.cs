using Aireiter.Jobs.Requests;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Engine;

/// <summary>The whole lifecycle for each outcome, through a real worker process, the simulator and PostgreSQL.</summary>
public sealed class LifecycleTests
{
    [Fact]
    public async Task Requests_AreSubmittedPolledAndSucceed_WithOutputsAndCredits()
    {
        await using var harness = await EngineHarness.StartAsync("life-success", EngineHarness.FastSimulator());
        await harness.StartWorkerAsync();

        var enqueued = await harness.EnqueueAsync(20);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));

        Assert.All(enqueued, e => Assert.Equal(EnqueueStatus.Inserted, e.Status));
        var rows = await harness.ReadAsync();
        Assert.All(rows.Values, r =>
        {
            Assert.Equal(RequestState.Succeeded, r.State);
            Assert.Equal(10m, r.EstimatedCredits);
            Assert.Equal(10m, r.CreditsUsed);
            Assert.Equal(1, r.Outputs);
        });
        var stats = harness.Simulator.Upstream.Stats();
        Assert.Equal(20, stats.TasksBilled);
        Assert.All(stats.SubmitsPerOutTaskId.Values, n => Assert.Equal(1, n));
        Assert.Equal(stats.CreditsBilled, rows.Values.Sum(r => r.CreditsUsed));
        var history = await harness.EventsAsync(enqueued[0].OutTaskId!);
        Assert.Equal(["->queued:enqueued", "queued>submitting:claimed", "submitting>running:submitted", "running>succeeded:completed"], history);
    }
}
