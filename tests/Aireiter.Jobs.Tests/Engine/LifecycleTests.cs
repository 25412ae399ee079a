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
        Assert.Equal(["queued>submitting:claimed", "submitting>running:submitted", "running>succeeded:completed"], history);
    }
}

public sealed class OutcomeTests
{
    [Fact]
    public async Task AnUpstreamFailure_EndsFailed_WithTheUpstreamsError_AndNoCredits()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.FailureRate = 1;
        await using var harness = await EngineHarness.StartAsync("life-failed", simulator);
        await harness.StartWorkerAsync();

        await harness.EnqueueAsync(5);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));

        Assert.All((await harness.ReadAsync()).Values, r =>
        {
            Assert.Equal(RequestState.Failed, r.State);
            Assert.Equal("upstream_failed", r.ErrorKind);
            Assert.Equal(simulator.FailureMessage, r.ErrorMessage);
            Assert.Equal(0m, r.CreditsUsed);
        });
        Assert.Equal(5, harness.Simulator.Upstream.Stats().TasksBilled);
    }

    [Fact]
    public async Task AContentRejection_FailsAtSubmit_WithTheUpstreamsMessage_AndIsNeverRetried()
    {
        await using var harness = await EngineHarness.StartAsync("life-rejected", EngineHarness.FastSimulator());
        await harness.StartWorkerAsync();

        var results = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("bad-1", prompt: "a forbidden poster")], null, CancellationToken.None);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));

        var row = (await harness.ReadAsync())[results[0].OutTaskId!];
        Assert.Equal(RequestState.Failed, row.State);
        Assert.Equal("content_rejected", row.ErrorKind);
        Assert.Contains("content safety review", row.ErrorMessage, StringComparison.Ordinal);
        var stats = harness.Simulator.Upstream.Stats();
        Assert.Equal(0, stats.TasksBilled);
        Assert.Equal(1, stats.SubmitCalls);
    }

    [Fact]
    public async Task ATimeOut_IsReconciled_AndALateCompletionIsRecordedWithItsCredits()
    {
        // The upstream holds every result until the test releases it, so each request surely passes its deadline first,
        // however late its submit answer came under load.
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(100), CompletedAfter = TimeSpan.FromHours(1), Jitter = TimeSpan.Zero };
        await using var harness = await EngineHarness.StartAsync("life-late", simulator, ("Aireiter:Polling:Deadline", "00:00:01"));
        await harness.StartWorkerAsync();

        var enqueued = await harness.EnqueueAsync(3);
        await harness.WaitUntilAsync(async () => (await harness.ReadAsync()).Values.All(r => r.State == RequestState.TimedOut),
            TimeSpan.FromSeconds(20), "all timed out");
        foreach (var request in enqueued)
        {
            harness.Simulator.Upstream.FinishNow(request.OutTaskId!);
        }

        await harness.WaitUntilAsync(async () => (await harness.ReadAsync()).Values.All(r => r.State == RequestState.Succeeded),
            TimeSpan.FromSeconds(20), "all completed late");

        Assert.All((await harness.ReadAsync()).Values, r =>
        {
            Assert.True(r.CompletedLate);
            Assert.Equal(10m, r.CreditsUsed);
            Assert.Equal(1, r.Outputs);
        });
        foreach (var request in enqueued)
        {
            var history = await harness.EventsAsync(request.OutTaskId!);
            Assert.Equal(["running>timed_out:deadline", "timed_out>succeeded:completed_late"], history.TakeLast(2));
        }
    }

    [Fact]
    public async Task NoCreditsLeft_PausesTheWholeCluster_RequestsStayQueued_AndItResumesByItselfWhenCreditsReturn()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Balance = 0;
        await using var harness = await EngineHarness.StartAsync("life-credits", simulator);
        var worker = await harness.StartWorkerAsync();

        await harness.EnqueueAsync(10);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
            "select count(*) from submit_pauses where reason = 'insufficient_credits'") == 1, TimeSpan.FromSeconds(20), "paused");
        await harness.WaitUntilAsync(async () => (await harness.ReadAsync()).Values.All(r => r.State == RequestState.Queued),
            TimeSpan.FromSeconds(20), "the claimed ones put back");
        // Two probes later, still nothing has failed: one request is tried per probe interval, the rest wait. A probe
        // may be in flight at any moment (that request is Submitting then), so wait for the moment between two probes.
        await harness.WaitUntilAsync(async () => harness.Simulator.Upstream.Stats().SubmitCalls >= 3
                                                 && (await harness.ReadAsync()).Values.All(r => r.State == RequestState.Queued),
            TimeSpan.FromSeconds(10), "two probes, and every request queued again after them");

        Assert.Equal(0, await harness.ScalarAsync("select count(*) from request_events where to_state not in ('queued', 'submitting')"));
        Assert.Equal(0, harness.Simulator.Upstream.Stats().TasksBilled);
        var report = await worker.ReadyReportAsync();
        Assert.Contains("PAUSED", report, StringComparison.Ordinal);
        Assert.Contains("not enough credits", report, StringComparison.Ordinal);
        Assert.Contains(worker.Output, l => l.Contains("PAUSED for the whole cluster", StringComparison.Ordinal));

        harness.Simulator.Options.Balance = null;
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));

        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from submit_pauses"));
        Assert.Contains(worker.Output, l => l.Contains("Submitting resumed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AWrongApiKey_PausesAsUnauthorized_AndResumesWhenTheKeyIsAccepted()
    {
        await using var harness = await EngineHarness.StartAsync("life-key", EngineHarness.FastSimulator());
        await harness.StartWorkerAsync();
        var realKey = harness.Simulator.Options.ApiKey;
        harness.Simulator.Options.ApiKey = "rotated-by-someone";

        await harness.EnqueueAsync(4);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
            "select count(*) from submit_pauses where reason = 'unauthorized'") == 1, TimeSpan.FromSeconds(20), "paused");
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from generation_requests where state = 'failed'"));

        harness.Simulator.Options.ApiKey = realKey;
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));
        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
    }

    [Fact]
    public async Task NotBefore_HoldsARequestUntilItsTime()
    {
        await using var harness = await EngineHarness.StartAsync("life-notbefore", EngineHarness.FastSimulator());
        await harness.StartWorkerAsync();
        var at = DateTimeOffset.UtcNow.AddSeconds(5);

        var results = await harness.Enqueuer.EnqueueAsync(
            [EngineHarness.Request("later-1") with { NotBefore = at }, EngineHarness.Request("now-1")], null, CancellationToken.None);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));

        // Judged by the upstream's own record of when each task was created: the node was submitting well before
        // the held request's time (the unheld one went then), and still sent the held one only after it.
        var sentAt = (string outTaskId) => harness.Simulator.Upstream.FindByOutTaskId(outTaskId)!.CreatedAt;
        Assert.True(sentAt(results[1].OutTaskId!) < at, $"the unheld request was only sent at {sentAt(results[1].OutTaskId!):O}, after {at:O}");
        Assert.True(sentAt(results[0].OutTaskId!) >= at, $"the held request was sent at {sentAt(results[0].OutTaskId!):O}, before its time {at:O}");
    }
}

public sealed class EnqueueTests
{
    [Fact]
    public async Task TheSameKeyTwice_InsertsNothing_AndSaysAlreadyPresent()
    {
        await using var harness = await EngineHarness.StartAsync("enqueue-twice", EngineHarness.FastSimulator());

        var first = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("SKU-1"), EngineHarness.Request("SKU-2")], "catalogue-a", CancellationToken.None);
        var again = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("SKU-1"), EngineHarness.Request("SKU-3")], "catalogue-a", CancellationToken.None);
        var otherBatch = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("SKU-1")], "catalogue-b", CancellationToken.None);

        Assert.All(first, r => Assert.Equal(EnqueueStatus.Inserted, r.Status));
        Assert.Equal(EnqueueStatus.AlreadyPresent, again[0].Status);
        Assert.Equal(first[0].OutTaskId, again[0].OutTaskId);
        Assert.Equal(EnqueueStatus.Inserted, again[1].Status);
        Assert.Equal(EnqueueStatus.Inserted, otherBatch[0].Status);
        Assert.NotEqual(first[0].OutTaskId, otherBatch[0].OutTaskId);
        Assert.Equal(4, await harness.ScalarAsync("select count(*) from generation_requests"));
    }

    [Fact]
    public async Task InvalidRequests_AreReportedPerField_AndNothingOfThemIsStored_WhileTheValidOnesAre()
    {
        await using var harness = await EngineHarness.StartAsync("enqueue-invalid", EngineHarness.FastSimulator());
        var bad = new NewRequest("gpt_image_2", new System.Text.Json.Nodes.JsonObject { ["prompt"] = "x", ["size"] = "2048x2048", ["resolution"] = "2K" });
        var badId = EngineHarness.Request("ok-1") with { OutTaskId = "has spaces!" };

        var results = await harness.Enqueuer.EnqueueAsync([bad, EngineHarness.Request("ok-2"), badId], null, CancellationToken.None);

        Assert.Equal(EnqueueStatus.Invalid, results[0].Status);
        Assert.Contains(results[0].Errors, e => e.Field == "size");
        Assert.Equal(EnqueueStatus.Inserted, results[1].Status);
        Assert.Equal(EnqueueStatus.Invalid, results[2].Status);
        Assert.Contains(results[2].Errors, e => e.Field == "out_task_id");
        Assert.Equal(1, await harness.ScalarAsync("select count(*) from generation_requests"));
    }

    [Fact]
    public void DerivedIds_AreStable_FitTheUpstreamCharset_AndDifferByScope()
    {
        var a = OutTaskIds.Derive("batch", "SKU 1/ä");

        Assert.Equal(a, OutTaskIds.Derive("batch", "SKU 1/ä"));
        Assert.True(OutTaskIds.IsValid(a));
        Assert.NotEqual(a, OutTaskIds.Derive("batch2", "SKU 1/ä"));
        Assert.NotEqual(OutTaskIds.Derive("a-b", "c"), OutTaskIds.Derive("a", "b-c"));
    }
}
