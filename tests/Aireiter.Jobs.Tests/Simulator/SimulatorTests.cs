using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Aireiter.Client.Protocol;
using Aireiter.Jobs.Tests.Client;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Simulator;

/// <summary>The simulator's switches do what the engine's tests will rely on.</summary>
public sealed class SimulatorTests
{
    private static SimulatorOptions Fast() => new()
    {
        Seed = 3,
        Timing = new TaskTiming
        {
            ProcessingAfter = TimeSpan.FromMilliseconds(20),
            CompletedAfter = TimeSpan.FromMilliseconds(100),
            Jitter = TimeSpan.Zero,
        },
    };

    private static SubmitRequest Request(string outTaskId, string model = "seedream_v5_lite", Uri? callback = null) =>
        new(model, new JsonObject { ["prompt"] = "a lamp", ["resolution"] = "3K" }, outTaskId) { CallbackUrl = callback };

    [Theory]
    [InlineData(DuplicatePolicy.BillAgain, OutcomeKind.Accepted, 2)]
    [InlineData(DuplicatePolicy.ReturnExisting, OutcomeKind.Accepted, 1)]
    [InlineData(DuplicatePolicy.Reject, OutcomeKind.InvalidRequest, 1)]
    public async Task ARepeatedOutTaskId_FollowsTheConfiguredPolicy(DuplicatePolicy policy, OutcomeKind second, int billed)
    {
        var options = Fast();
        options.DuplicatePolicy = policy;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var first = await harness.Client.SubmitAsync(Request("dup-1"), CancellationToken.None);
        var again = await harness.Client.SubmitAsync(Request("dup-1"), CancellationToken.None);

        Assert.Equal(OutcomeKind.Accepted, first.Kind);
        Assert.Equal(second, again.Kind);
        var stats = sim.Upstream.Stats();
        Assert.Equal(2, stats.SubmitsPerOutTaskId["dup-1"]);
        Assert.Equal(billed, stats.TasksBilledPerOutTaskId["dup-1"]);
        Assert.Equal(12m * billed, stats.CreditsBilled);
    }

    [Fact]
    public async Task Credits_DependOnModelAndResolution_AndFailedTasksAreRefunded()
    {
        var options = Fast();
        options.FailureRate = 1;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var submitted = await harness.Client.SubmitAsync(Request("fail-1"), CancellationToken.None);
        Assert.Equal(12m, submitted.Value!.EstimatedCredits);
        Assert.Equal(12m, sim.Upstream.Stats().CreditsBilled);

        await Task.Delay(150);
        var failed = await harness.Client.QueryByOutTaskIdAsync("fail-1", CancellationToken.None);
        Assert.Equal(UpstreamStatus.Failed, failed.Value!.Status);
        Assert.Equal(options.FailureMessage, failed.Value.Error);
        Assert.Equal(0m, failed.Value.CreditsUsed);
        Assert.Equal(0m, sim.Upstream.Stats().CreditsBilled);
    }

    [Fact]
    public async Task OutputUrls_ServeRealPngImages_ThatTheSimulatorCanRecompute()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);
        var submitted = await harness.Client.SubmitAsync(Request("png-1"), CancellationToken.None);
        await Task.Delay(150);
        var done = await harness.Client.QueryByOutTaskIdAsync("png-1", CancellationToken.None);

        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(done.Value!.OutputUrls[0]));
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("image/png", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.Equal(64, (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]); // IHDR width
        Assert.Equal(SHA256.HashData(PngImages.For(submitted.Value!.TaskId!, 0, 64)), SHA256.HashData(bytes));
    }

    [Fact]
    public async Task UnknownRoutesAndWrongMethods_GetTheHomePage_WithStatus200()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var http = new HttpClient();

        using var wrongMethod = await http.GetAsync(new Uri(sim.BaseAddress, "/api/openapi/submit"));
        using var unknown = await http.PostAsync(new Uri(sim.BaseAddress, "/balance"), new StringContent("{}"));

        foreach (var response in new[] { wrongMethod, unknown })
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        }
    }

    [Theory]
    [InlineData(CallbackMode.OnCompletion, 1)]
    [InlineData(CallbackMode.Duplicated, 2)]
    [InlineData(CallbackMode.Never, 0)]
    public async Task Callbacks_AreSentWhenATaskFinishes_AsConfigured(CallbackMode mode, int expected)
    {
        var options = Fast();
        options.Callbacks = mode;
        await using var sim = await SimulatorHost.StartAsync(options);
        await using var catcher = await CallbackCatcher.StartAsync();
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        await harness.Client.SubmitAsync(Request("cb-1", callback: catcher.Url), CancellationToken.None);
        await Eventually(() => catcher.Received.Count >= expected && sim.Upstream.Stats().CallbacksSent >= expected);
        await Task.Delay(200); // and no more than that

        Assert.Equal(expected, catcher.Received.Count);
        Assert.All(catcher.Received, body =>
        {
            Assert.Equal("cb-1", body["out_task_id"]!.GetValue<string>());
            Assert.Equal("completed", body["status"]!.GetValue<string>());
        });
    }

    [Fact]
    public async Task LateCallbacks_ComeAfterTheConfiguredDelay()
    {
        var options = Fast();
        options.Callbacks = CallbackMode.Late;
        options.CallbackDelay = TimeSpan.FromMilliseconds(400);
        // The simulator's clock is moved by hand, so "not yet" means the same on a slow machine.
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var sim = await SimulatorHost.StartAsync(options, clock);
        await using var catcher = await CallbackCatcher.StartAsync();
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        await harness.Client.SubmitAsync(Request("cb-late", callback: catcher.Url), CancellationToken.None);
        for (var i = 0; i < 9; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(50)); // to 450 ms, a callback sender tick every 50 ms
            await Task.Delay(20);
        }

        Assert.Equal(0, sim.Upstream.Stats().CallbacksSent); // finished at 100 ms, but the callback waits until 500 ms
        Assert.Empty(catcher.Received);

        clock.Advance(TimeSpan.FromMilliseconds(100));
        await Eventually(() => !catcher.Received.IsEmpty);
    }

    [Fact]
    public async Task Stats_RecordSubmitsBillingAndQueryTimes()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);
        await harness.Client.SubmitAsync(Request("stats-1"), CancellationToken.None);
        await harness.Client.QueryByOutTaskIdAsync("stats-1", CancellationToken.None);
        await harness.Client.QueryByOutTaskIdAsync("stats-1", CancellationToken.None);

        using var http = new HttpClient();
        var stats = (await http.GetFromJsonAsync<JsonObject>(new Uri(sim.BaseAddress, "/_sim/stats")))!;

        Assert.Equal(1, stats["tasksBilled"]!.GetValue<int>());
        Assert.Equal(12m, stats["creditsBilled"]!.GetValue<decimal>());
        Assert.Equal(2, stats["queryTimes"]!["stats-1"]!.AsArray().Count);
    }

    [Fact]
    public async Task TheControlEndpoint_ChangesSwitchesWhileRunning()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var http = new HttpClient();
        var options = (await http.GetFromJsonAsync<JsonObject>(new Uri(sim.BaseAddress, "/_sim/options")))!;
        options["balance"] = 0;

        using var response = await http.PostAsJsonAsync(new Uri(sim.BaseAddress, "/_sim/options"), options);
        response.EnsureSuccessStatusCode();
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);
        var outcome = await harness.Client.SubmitAsync(Request("broke-1"), CancellationToken.None);

        Assert.Equal(OutcomeKind.InsufficientCredits, outcome.Kind);
    }

    [Fact]
    public async Task Balance_IsReported_AndNeedsTheKey()
    {
        var options = Fast();
        options.Balance = 250;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(sim.BaseAddress, "/api/openapi/balance"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);

        using var response = await http.SendAsync(request);
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;

        Assert.Equal(250m, body["data"]!["credits"]!.GetValue<decimal>());
        var anonymous = (await http.GetFromJsonAsync<JsonObject>(new Uri(sim.BaseAddress, "/api/openapi/balance")))!;
        Assert.Equal(401, anonymous["statusCode"]!.GetValue<int>());
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not become true within 5 s");
            await Task.Delay(20);
        }
    }
}
