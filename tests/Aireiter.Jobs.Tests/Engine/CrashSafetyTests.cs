using System.Globalization;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;
using Xunit.Abstractions;

namespace Aireiter.Jobs.Tests.Engine;

/// <summary>
/// The product's first promise, tried the hard way: the worker is killed with SIGKILL at random moments
/// while the simulator bills every repeated out_task_id again and drops connections after billing.
/// </summary>
public sealed class CrashSafetyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KilledAtRandom_ManyTimes_EveryRequestEnds_AndExactlyOneTaskIsBilledPerRequest()
    {
        const int requests = 300;
        const int kills = 15;
        var simulator = EngineHarness.FastSimulator();
        simulator.DuplicatePolicy = DuplicatePolicy.BillAgain;
        simulator.Faults.DropAfterAcceptRate = 0.15;
        // Each call takes a while, so kills land in the middle of submits, not only between them.
        simulator.Faults.Latency = TimeSpan.FromMilliseconds(120);
        await using var harness = await EngineHarness.StartAsync("crash", simulator,
            ("Engine:LeaseDuration", "00:00:01"),
            ("Engine:LeaseSweepInterval", "00:00:01"),
            ("Engine:MaxConcurrentSubmits", "16"),
            ("Engine:Limits:SubmitsPerSecond", "40"),
            ("Aireiter:Polling:Deadline", "00:00:20"));
        var random = new Random(20261122);

        await harness.EnqueueAsync(requests / 2, "first");
        var killed = 0;
        for (var i = 0; i < kills; i++)
        {
            var worker = await harness.StartWorkerAsync($"crash-{i}");
            if (i == kills / 2)
            {
                await harness.EnqueueAsync(requests / 2, "second");
            }

            await Task.Delay(random.Next(150, 1200));
            worker.Kill();
            killed++;
        }

        await harness.StartWorkerAsync("after-the-crashes");
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(90));

        var rows = await harness.ReadAsync();
        var stats = harness.Simulator.Upstream.Stats();
        var billed = stats.TasksBilledPerOutTaskId;
        var creditsStored = rows.Values.Sum(r => r.CreditsUsed ?? 0);
        var adopted = await harness.ScalarAsync("select count(*) from request_events where reason = 'adopted'");
        var recovered = await harness.ScalarAsync("select count(*) from request_events where reason = 'lease_expired'");
        var fenced = await harness.ScalarAsync("select count(*) from request_events where detail like 'Not sent: this node''s lease%'");
        var figures = string.Create(CultureInfo.InvariantCulture,
            $"crash test: {killed} SIGKILLs, {requests} requests, {rows.Values.Count(r => r.State == RequestState.Succeeded)} succeeded, " +
            $"{billed.Count} out_task_ids billed, {billed.Values.Sum()} tasks billed, max per request {billed.Values.Max()}, " +
            $"{stats.SubmitCalls} submit calls, {adopted} adopted after an ambiguous or interrupted submit, {recovered} leases recovered, {fenced} submits held back by the lease fence, " +
            $"credits stored {creditsStored} vs billed {stats.CreditsBilled}");
        output.WriteLine(figures);
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "crash-test-figures.txt"), figures + Environment.NewLine);

        Assert.Equal(requests, rows.Count);
        Assert.All(rows.Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        Assert.Equal(requests, billed.Count);
        foreach (var (outTaskId, times) in billed.Where(b => b.Value != 1))
        {
            var logged = harness.Workers.SelectMany((w, i) => w.Output.Where(l => l.Contains(outTaskId, StringComparison.Ordinal)).Select(l => $"worker {i}: {l}"));
            Assert.Fail($"{outTaskId} was billed {times} times; its history:\n{await History(harness, outTaskId)}\nits log lines:\n{string.Join('\n', logged)}");
        }

        Assert.Equal(stats.CreditsBilled, creditsStored);
        // The faults really happened: some submits were ambiguous and had to be adopted, not resubmitted.
        Assert.True(adopted > 0, "no submit was ever adopted: the faults did not bite");
        Assert.True(recovered > 0, "no kill ever interrupted a submit: the kills did not bite");
    }

    /// <summary>A request's events, one line each, for a failure message.</summary>
    private static async Task<string> History(EngineHarness harness, string outTaskId)
    {
        await using var command = harness.DataSource.CreateCommand("""
            select to_char(e.at, 'HH24:MI:SS.US') || ' ' || e.from_state || ' -> ' || e.to_state || ' ' || e.reason || ' on ' || coalesce(e.node, '?')
                   || coalesce(': ' || e.detail, '')
            from request_events e join generation_requests r on r.id = e.request_id
            where r.out_task_id = @id order by e.id
            """);
        command.Parameters.AddWithValue("id", outTaskId);
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join('\n', lines);
    }

    [Fact]
    public async Task TwoWorkers_OnOneDatabase_ShareTheWork_AndSubmitEachRequestOnce()
    {
        await using var harness = await EngineHarness.StartAsync("two-nodes", EngineHarness.FastSimulator(),
            ("Engine:MaxConcurrentSubmits", "4"));
        await Task.WhenAll(harness.StartWorkerAsync("node-a"), harness.StartWorkerAsync("node-b"));

        await harness.EnqueueAsync(200);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(60));

        var stats = harness.Simulator.Upstream.Stats();
        Assert.Equal(200, stats.SubmitsPerOutTaskId.Count);
        Assert.All(stats.SubmitsPerOutTaskId.Values, n => Assert.Equal(1, n));
        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        var byNode = await harness.ScalarAsync(
            "select count(distinct node) from request_events where reason = 'submitted' and node in ('node-a', 'node-b')");
        Assert.Equal(2, byNode);
    }

    [Fact]
    public async Task AGracefulStop_HandsClaimedRowsBackAtOnce_AndTheyAreFinishedWithoutPayingTwice()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Faults.Latency = TimeSpan.FromSeconds(3); // every submit is still in flight when the stop comes
        await using var harness = await EngineHarness.StartAsync("graceful", simulator, ("Engine:LeaseDuration", "00:05:00"));
        var worker = await harness.StartWorkerAsync("stopping");
        await harness.EnqueueAsync(5);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
            "select count(*) from generation_requests where state = 'submitting'") == 5, TimeSpan.FromSeconds(10), "all claimed");

        Assert.Equal(0, await worker.StopAsync());

        // Back at once, not after the five-minute lease; each will be asked about before any resubmit.
        Assert.Equal(5, await harness.ScalarAsync("select count(*) from generation_requests where state = 'queued' and lease_owner is null"));
        Assert.Equal(5, await harness.ScalarAsync("select count(*) from request_events where reason = 'node_stopping'"));
        harness.Simulator.Options.Faults.Latency = TimeSpan.Zero;
        await harness.StartWorkerAsync("next");
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));
        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        Assert.All(harness.Simulator.Upstream.Stats().TasksBilledPerOutTaskId.Values, n => Assert.Equal(1, n));
    }
}
