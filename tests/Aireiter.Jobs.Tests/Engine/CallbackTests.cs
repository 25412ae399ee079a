using System.Net;
using Aireiter.Jobs.Callbacks;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Infrastructure;

namespace Aireiter.Jobs.Tests.Engine;

public sealed class CallbackTests
{
    private const string Secret = "a-callback-secret-of-some-length";

    [Fact]
    public async Task ASignedCallback_MakesTheTaskDueAtOnce_LongBeforeItsFirstPoll()
    {
        var port = FreePort.Next();
        await using var harness = await EngineHarness.StartAsync("callbacks", EngineHarness.FastSimulator(),
            ("Aireiter:Polling:InitialDelayMin", "00:01:00"),
            ("Aireiter:Polling:InitialDelayMax", "00:01:00"),
            ("Aireiter:Polling:Deadline", "00:02:00"),
            ("Engine:Callbacks:PublicBaseUrl", $"http://127.0.0.1:{port}"),
            ("Engine:Callbacks:Secret", Secret));
        await harness.StartWorkerAsync("node-a", port);

        // seedream_v5_lite documents callback_url; its first poll is a minute away, so only the callback can finish it now.
        var results = await harness.EnqueueAsync(3, model: "seedream_v5_lite");
        // Any wait shorter than the minute to the first poll means the same; a loaded machine gets most of it.
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(45));

        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        Assert.True(harness.Simulator.Upstream.Stats().CallbacksSent >= 3);
        var task = harness.Simulator.Upstream.FindByOutTaskId(results[0].OutTaskId!)!;
        Assert.Equal(CallbackSignature.UrlFor(new Uri($"http://127.0.0.1:{port}"), Secret, results[0].OutTaskId!), task.CallbackUrl);
    }

    [Fact]
    public async Task UnsignedOrWronglySignedCallbacks_Get401_AndChangeNothing()
    {
        var port = FreePort.Next();
        var simulator = EngineHarness.FastSimulator();
        simulator.Callbacks = Aireiter.Simulator.CallbackMode.Never;
        await using var harness = await EngineHarness.StartAsync("callbacks-bad", simulator,
            ("Aireiter:Polling:InitialDelayMin", "00:01:00"),
            ("Aireiter:Polling:InitialDelayMax", "00:01:00"),
            ("Aireiter:Polling:Deadline", "00:02:00"),
            ("Engine:Callbacks:PublicBaseUrl", $"http://127.0.0.1:{port}"),
            ("Engine:Callbacks:Secret", Secret));
        var worker = await harness.StartWorkerAsync("node-a", port);
        var results = await harness.EnqueueAsync(1, model: "seedream_v5_lite");
        var id = results[0].OutTaskId!;
        await harness.WaitUntilAsync(async () => (await harness.ReadAsync())[id].State == RequestState.Running, TimeSpan.FromSeconds(60), "running");
        var dueBefore = await harness.ScalarAsync($"select extract(epoch from due_at)::bigint from generation_requests where out_task_id = '{id}'");

        using var http = new HttpClient();
        var unsigned = await http.PostAsync(new Uri(worker.BaseAddress, $"/callbacks/aireiter/{id}"), new StringContent("{}"));
        var forged = await http.PostAsync(new Uri(worker.BaseAddress, $"/callbacks/aireiter/{id}?sig={CallbackSignature.Compute("guessed-secret", id)}"), new StringContent("{}"));
        var otherTask = await http.PostAsync(new Uri(worker.BaseAddress, $"/callbacks/aireiter/{id}?sig={CallbackSignature.Compute(Secret, "another-task")}"), new StringContent("{}"));

        Assert.Equal(HttpStatusCode.Unauthorized, unsigned.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, otherTask.StatusCode);
        Assert.Equal(dueBefore, await harness.ScalarAsync($"select extract(epoch from due_at)::bigint from generation_requests where out_task_id = '{id}'"));
        Assert.Equal(RequestState.Running, (await harness.ReadAsync())[id].State);
    }
}
