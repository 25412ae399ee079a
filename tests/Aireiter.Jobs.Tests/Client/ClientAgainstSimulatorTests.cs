using System.Diagnostics;
using System.Text.Json.Nodes;
using Aireiter.Client.Protocol;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Client;

/// <summary>Every outcome class, produced by the simulator over real HTTP on loopback.</summary>
public sealed class ClientAgainstSimulatorTests
{
    private static SimulatorOptions Fast() => new()
    {
        Seed = 7,
        Timing = new TaskTiming
        {
            ProcessingAfter = TimeSpan.FromMilliseconds(50),
            CompletedAfter = TimeSpan.FromMilliseconds(200),
            Jitter = TimeSpan.Zero,
        },
    };

    private static SubmitRequest Request(string outTaskId, string prompt = "a red chair on white", string model = "gpt_image_2") =>
        new(model, new JsonObject { ["prompt"] = prompt, ["aspect_ratio"] = "1:1", ["resolution"] = "2K" }, outTaskId);

    [Fact]
    public async Task Submit_IsAccepted_ThenQueryFollowsTheTaskToCompletion_WithOutputsAndCredits()
    {
        // The task's life runs on the simulator's clock, moved by hand: "not finished yet" holds however slow the machine is.
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var sim = await SimulatorHost.StartAsync(Fast(), clock);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var submitted = await harness.Client.SubmitAsync(Request("accept-1"), CancellationToken.None);
        Assert.Equal(OutcomeKind.Accepted, submitted.Kind);
        Assert.Equal("accept-1", submitted.Value!.OutTaskId);
        Assert.Equal(10m, submitted.Value.EstimatedCredits);
        Assert.NotNull(submitted.Value.TaskId);

        var early = await harness.Client.QueryByOutTaskIdAsync("accept-1", CancellationToken.None);
        Assert.Equal(OutcomeKind.Accepted, early.Kind);
        Assert.False(early.Value!.IsFinished);

        clock.Advance(TimeSpan.FromMilliseconds(300));
        var done = await harness.Client.QueryByTaskIdAsync(submitted.Value.TaskId!, CancellationToken.None);
        Assert.Equal(UpstreamStatus.Completed, done.Value!.Status);
        Assert.Equal(10m, done.Value.CreditsUsed);
        var url = Assert.Single(done.Value.OutputUrls);
        Assert.StartsWith(sim.BaseAddress.ToString().TrimEnd('/'), url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_ToTheOfficialChannel_ReadsItsArrayEnvelope()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var submitted = await harness.Client.SubmitAsync(Request("official-1", model: "gpt_image_2_official"), CancellationToken.None);

        Assert.Equal(OutcomeKind.Accepted, submitted.Kind);
        Assert.Equal("submitted", submitted.Value!.Status);
        Assert.StartsWith("order_", submitted.Value.TaskId, StringComparison.Ordinal);
        Assert.Equal(200, submitted.UpstreamCode);
    }

    [Fact]
    public async Task Query_ForAnUnknownTask_IsNotFound()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var outcome = await harness.Client.QueryByOutTaskIdAsync("never-submitted", CancellationToken.None);

        Assert.Equal(OutcomeKind.NotFound, outcome.Kind);
        Assert.Equal("api task not found", outcome.Message);
        Assert.Equal(1, sim.Upstream.Stats().QueryCalls); // a definite answer is not retried
    }

    [Fact]
    public async Task Submit_WithSizeAndAspectRatio_IsAnInvalidRequest_WithTheUpstreamMessage()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);
        var request = new SubmitRequest("gpt_image_2",
            new JsonObject { ["prompt"] = "x", ["size"] = "2048x2048", ["aspect_ratio"] = "1:1" }, "invalid-1");

        var outcome = await harness.Client.SubmitAsync(request, CancellationToken.None);

        Assert.Equal(OutcomeKind.InvalidRequest, outcome.Kind);
        Assert.Contains("size cannot be used together", outcome.Message, StringComparison.Ordinal);
        Assert.Equal(0, sim.Upstream.Stats().TasksBilled);
    }

    [Fact]
    public async Task Submit_WithAFlaggedPrompt_IsRejectedByContentReview()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var outcome = await harness.Client.SubmitAsync(Request("review-1", "a forbidden thing"), CancellationToken.None);

        Assert.Equal(OutcomeKind.ContentRejected, outcome.Kind);
        Assert.Contains("content safety review", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_WithAWrongKey_IsUnauthorized()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, "not-the-key");

        var outcome = await harness.Client.SubmitAsync(Request("auth-1"), CancellationToken.None);

        Assert.Equal(OutcomeKind.Unauthorized, outcome.Kind);
        Assert.Equal(401, outcome.UpstreamCode);
        Assert.Equal(200, outcome.HttpStatus); // business errors come as HTTP 200
    }

    [Fact]
    public async Task Submit_WhenTheBalanceRunsOut_IsInsufficientCredits_Code433()
    {
        var options = Fast();
        options.Balance = 15;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var first = await harness.Client.SubmitAsync(Request("credits-1"), CancellationToken.None);
        var second = await harness.Client.SubmitAsync(Request("credits-2"), CancellationToken.None);

        Assert.Equal(OutcomeKind.Accepted, first.Kind);
        Assert.Equal(OutcomeKind.InsufficientCredits, second.Kind);
        Assert.Equal(433, second.UpstreamCode);
        Assert.Equal("not enough credits", second.Message);
    }

    [Fact]
    public async Task Submit_Got429_IsRateLimited_WithRetryAfter_AndIsNotRetried()
    {
        var options = Fast();
        options.Faults.RateLimitRate = 1;
        options.Faults.RetryAfter = TimeSpan.FromSeconds(7);
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var outcome = await harness.Client.SubmitAsync(Request("limited-1"), CancellationToken.None);

        Assert.Equal(OutcomeKind.RateLimited, outcome.Kind);
        Assert.Equal(TimeSpan.FromSeconds(7), outcome.RetryAfter);
        Assert.Equal(429, outcome.HttpStatus);
    }

    [Fact]
    public async Task Query_Got429_RetriesAfterTheRetryAfterItWasGiven_CappedByMaxRetryAfter()
    {
        var options = Fast();
        options.Faults.RateLimitRate = 1;
        options.Faults.RetryAfter = TimeSpan.FromSeconds(1);
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey,
            ("Aireiter:QueryRetries", "2"), ("Aireiter:MaxRetryAfter", "00:00:00.150"));

        var clock = Stopwatch.StartNew();
        var outcome = await harness.Client.QueryByOutTaskIdAsync("any", CancellationToken.None);
        clock.Stop();

        Assert.Equal(OutcomeKind.RateLimited, outcome.Kind);
        // Two retries, each waiting the capped Retry-After (150 ms) rather than the 10 ms back-off.
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(290), TimeSpan.FromSeconds(1.5));
    }

    [Fact]
    public async Task ServerErrors_AreRetriedForQueries_ButASubmitIsSentOnce_AndIsAmbiguous()
    {
        var options = Fast();
        options.Faults.ServerErrorRate = 1;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey, ("Aireiter:QueryRetries", "3"));

        var submitted = await harness.Client.SubmitAsync(Request("five-1"), CancellationToken.None);
        var queried = await harness.Client.QueryByOutTaskIdAsync("five-1", CancellationToken.None);

        Assert.Equal(OutcomeKind.Ambiguous, submitted.Kind);
        Assert.Equal(500, submitted.HttpStatus);
        Assert.Equal(OutcomeKind.Transient, queried.Kind);
        Assert.Equal(1, sim.Upstream.Stats().SubmitRequests);
        Assert.Equal(4, sim.Upstream.Stats().QueryRequests);
    }

    [Fact]
    public async Task Query_IsRetried_UntilTheUpstreamAnswers()
    {
        var options = Fast();
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey, ("Aireiter:QueryRetries", "5"));
        await harness.Client.SubmitAsync(Request("flaky-1"), CancellationToken.None);

        // Half the calls fail; with five retries the query still gets through (the seed makes this repeatable).
        sim.Options.Faults.ServerErrorRate = 0.5;
        var outcome = await harness.Client.QueryByOutTaskIdAsync("flaky-1", CancellationToken.None);

        Assert.Equal(OutcomeKind.Accepted, outcome.Kind);
        Assert.Equal("flaky-1", outcome.Value!.OutTaskId);
    }

    [Fact]
    public async Task AnHtmlPage_IsNeverSuccess_TransientForQueries_AmbiguousForSubmits()
    {
        var options = Fast();
        options.Faults.HtmlRate = 1;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey, ("Aireiter:QueryRetries", "0"));

        var submitted = await harness.Client.SubmitAsync(Request("html-1"), CancellationToken.None);
        var queried = await harness.Client.QueryByOutTaskIdAsync("html-1", CancellationToken.None);

        Assert.Equal(OutcomeKind.Ambiguous, submitted.Kind);
        Assert.Equal(OutcomeKind.Transient, queried.Kind);
        Assert.Contains("not JSON", queried.Message, StringComparison.Ordinal);
        Assert.Contains("<!DOCTYPE html>", queried.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_WhoseConnectionDropsAfterBilling_IsAmbiguous_AndTheTaskCanBeFoundByQuery()
    {
        var options = Fast();
        options.Faults.DropAfterAcceptRate = 1;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey);

        var submitted = await harness.Client.SubmitAsync(Request("drop-1"), CancellationToken.None);
        var found = await harness.Client.QueryByOutTaskIdAsync("drop-1", CancellationToken.None);

        Assert.Equal(OutcomeKind.Ambiguous, submitted.Kind);
        Assert.Equal(1, sim.Upstream.Stats().TasksBilled);
        Assert.Equal(OutcomeKind.Accepted, found.Kind);
        Assert.Equal("drop-1", found.Value!.OutTaskId);
    }

    [Fact]
    public async Task ASlowUpstream_TimesOutPerAttempt_AmbiguousForSubmits_TransientForQueries()
    {
        var options = Fast();
        options.Faults.Latency = TimeSpan.FromSeconds(3);
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey,
            ("Aireiter:AttemptTimeout", "00:00:00.200"), ("Aireiter:QueryRetries", "0"));

        var submitted = await harness.Client.SubmitAsync(Request("slow-1"), CancellationToken.None);
        var queried = await harness.Client.QueryByOutTaskIdAsync("slow-1", CancellationToken.None);

        Assert.Equal(OutcomeKind.Ambiguous, submitted.Kind);
        Assert.Equal(OutcomeKind.Transient, queried.Kind);
        Assert.Contains("No answer within 0.2 s", queried.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingListening_IsTransient_EvenForASubmit_BecauseNothingWasSent()
    {
        using var harness = new ClientHarness(new Uri($"http://127.0.0.1:{FreePort.Next()}"), "key", ("Aireiter:QueryRetries", "0"));

        var submitted = await harness.Client.SubmitAsync(Request("refused-1"), CancellationToken.None);

        Assert.Equal(OutcomeKind.Transient, submitted.Kind);
        Assert.Contains("Could not connect", submitted.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADeadUpstream_OpensTheCircuit_AndLaterCallsAreNotSentAtAll()
    {
        var options = Fast();
        options.Faults.ServerErrorRate = 1;
        options.Faults.AffectQueries = true;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey,
            ("Aireiter:QueryRetries", "0"),
            ("Aireiter:CircuitBreaker:MinimumThroughput", "4"),
            ("Aireiter:CircuitBreaker:BreakDuration", "00:01:00"));

        for (var i = 0; i < 4; i++)
        {
            await harness.Client.QueryByOutTaskIdAsync($"dead-{i}", CancellationToken.None);
        }

        sim.Options.Faults.ServerErrorRate = 0;
        var blocked = await harness.Client.SubmitAsync(Request("dead-submit"), CancellationToken.None);

        Assert.Equal(OutcomeKind.Transient, blocked.Kind);
        Assert.Contains("circuit open", blocked.Message, StringComparison.Ordinal);
        Assert.Equal(0, sim.Upstream.Stats().SubmitRequests);
    }

    [Fact]
    public async Task Submits_ArePacedByTheClientSideRateLimit()
    {
        await using var sim = await SimulatorHost.StartAsync(Fast());
        using var harness = new ClientHarness(sim.BaseAddress, sim.Options.ApiKey, ("Aireiter:SubmitsPerSecond", "5"));

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 11).Select(i => harness.Client.SubmitAsync(Request($"paced-{i}"), CancellationToken.None)));

        // One token every 200 ms: the 11th waits ten refills.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"11 submits at 5/s took only {clock.Elapsed}");
        Assert.Equal(11, sim.Upstream.Stats().TasksBilled);
    }

    [Theory]
    [InlineData(5, 1, 200)]
    [InlineData(10, 1, 100)]
    [InlineData(20, 2, 100)]
    [InlineData(1000, 100, 100)]
    [InlineData(0.5, 1, 2000)]
    public void TheSubmitBucket_HoldsAtMostATenthOfASecondsSubmits_SoNoSecondsWorthLeavesAtOnce(double perSecond, int tokens, int periodMs)
    {
        // Measured arrival times cannot show this reliably (a busy machine bunches sends after any gate); the bucket's
        // shape is what decides how many may leave together.
        var bucket = Aireiter.Client.Resilience.AireiterResilience.TokenBucket(perSecond);

        Assert.Equal(tokens, bucket.TokenLimit);
        Assert.Equal(tokens, bucket.TokensPerPeriod);
        Assert.Equal(TimeSpan.FromMilliseconds(periodMs), bucket.ReplenishmentPeriod);
    }

    [Fact]
    public async Task TheApiKey_NeverAppearsInLogsMessagesOrToString()
    {
        const string secret = "sk-live-SECRET-9f8e7d6c";
        var options = Fast();
        options.ApiKey = secret;
        await using var sim = await SimulatorHost.StartAsync(options);
        using var good = new ClientHarness(sim.BaseAddress, secret, ("Aireiter:QueryRetries", "1"));
        using var bad = new ClientHarness(sim.BaseAddress, secret + "-wrong", ("Aireiter:QueryRetries", "1"));

        var outcomes = new List<object>
        {
            await good.Client.SubmitAsync(Request("secret-1"), CancellationToken.None),
            await good.Client.QueryByOutTaskIdAsync("secret-1", CancellationToken.None),
            await bad.Client.SubmitAsync(Request("secret-2"), CancellationToken.None),
            await bad.Client.QueryByOutTaskIdAsync("secret-2", CancellationToken.None),
        };
        sim.Options.Faults.ServerErrorRate = 1;
        outcomes.Add(await good.Client.QueryByOutTaskIdAsync("secret-1", CancellationToken.None));

        Assert.NotEmpty(good.Logs.Lines);
        Assert.All(good.Logs.Lines.Concat(bad.Logs.Lines), line => Assert.DoesNotContain(secret, line, StringComparison.Ordinal));
        Assert.All(outcomes, o => Assert.DoesNotContain(secret, o.ToString()!, StringComparison.Ordinal));
        var settings = new Aireiter.Client.AireiterOptions { ApiKey = secret };
        Assert.DoesNotContain(secret, settings.ToString(), StringComparison.Ordinal);
        Assert.Contains("(set)", settings.ToString(), StringComparison.Ordinal);
    }
}
