using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Requests;
using Aireiter.Simulator;
using Microsoft.Extensions.Configuration;

using Aireiter.Jobs.Tests.Infrastructure;

namespace Aireiter.Jobs.Tests.Engine;

[Collection(TimingSensitive.Name)]
public sealed class PollingTimingTests
{
    [Fact]
    public void TheDefaults_AreTheUpstreamsDocumentedTimings()
    {
        // Bound from the shipped appsettings.json, exactly as a node reads it.
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false)
            .Build();
        var options = configuration.GetSection(PollingOptions.Section).Get<PollingOptions>() ?? new PollingOptions();
        var timings = options.For("gpt_image_2");

        Assert.Equal(TimeSpan.FromSeconds(10), timings.InitialDelayMin);
        Assert.Equal(TimeSpan.FromSeconds(20), timings.InitialDelayMax);
        Assert.Equal(TimeSpan.FromSeconds(3), timings.IntervalMin);
        Assert.Equal(TimeSpan.FromSeconds(5), timings.IntervalMax);
        Assert.Equal(TimeSpan.FromSeconds(180), timings.Deadline);
        Assert.Equal(TimeSpan.FromHours(1), options.ReconcileWindow);
    }

    [Fact]
    public void PerModelOverrides_ReplaceOnlyWhatTheyName()
    {
        var options = new PollingOptions { Models = { ["slow_model"] = new ModelPolling { Deadline = TimeSpan.FromMinutes(10) } } };

        Assert.Equal(TimeSpan.FromMinutes(10), options.For("slow_model").Deadline);
        Assert.Equal(TimeSpan.FromSeconds(3), options.For("slow_model").IntervalMin);
        Assert.Equal(TimeSpan.FromSeconds(180), options.For("other").Deadline);
    }

    [Fact]
    public async Task Polls_FallInsideTheirWindows_AndNoneComesAfterTheDeadline()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(100), CompletedAfter = TimeSpan.FromSeconds(30), Jitter = TimeSpan.Zero };
        // Poll times are read where they arrive, in an upstream process of its own (see SimulatorProcess).
        await using var upstream = await SimulatorProcess.StartAsync(simulator);
        await using var harness = await EngineHarness.StartAsync("timing", simulator,
            ("Aireiter:BaseUrl", upstream.BaseAddress.ToString()),
            ("Aireiter:Polling:InitialDelayMin", "00:00:01"),
            ("Aireiter:Polling:InitialDelayMax", "00:00:01.500"),
            ("Aireiter:Polling:IntervalMin", "00:00:00.700"),
            ("Aireiter:Polling:IntervalMax", "00:00:01"),
            ("Aireiter:Polling:Deadline", "00:00:05"),
            ("Aireiter:Polling:ReconcileWindow", "00:00:00"),
            ("Engine:IdleTick", "00:00:00.050"));
        await harness.StartWorkerAsync();

        var enqueued = await harness.EnqueueAsync(8);
        await harness.WaitUntilAsync(async () => (await harness.ReadAsync()).Values.All(r => r.State == RequestState.TimedOut),
            TimeSpan.FromSeconds(30), "all timed out");
        await Task.Delay(500); // any stray poll after the deadline would show up here

        // Allowed lateness: claim round, HTTP and scheduling on a 2-core machine that has just run the whole suite
        // (a CI run once saw one poll 0.8 s late). Punctuality itself is measured by the benchmark, not asserted here;
        // what this test pins down is that no poll is early, the first one waits its window, and none comes after the deadline.
        var slack = TimeSpan.FromSeconds(1);
        var stats = await upstream.StatsAsync();
        foreach (var result in enqueued)
        {
            var createdAt = stats.CreatedAtPerOutTaskId[result.OutTaskId!];
            var polls = stats.QueryRequestTimes[result.OutTaskId!];
            var deadline = createdAt + TimeSpan.FromSeconds(5);

            Assert.InRange(polls[0] - createdAt, TimeSpan.FromMilliseconds(1000), TimeSpan.FromMilliseconds(1500) + slack);
            AssertNeverSoonerThan(TimeSpan.FromMilliseconds(700), polls, result.OutTaskId!);
            Assert.All(polls.Zip(polls.Skip(1), (a, b) => b - a), gap => Assert.True(gap <= TimeSpan.FromMilliseconds(1000) + slack, $"a gap of {gap}"));
            Assert.True(polls[^1] <= deadline + slack, $"{result.OutTaskId} was polled at {polls[^1]:O}, after its deadline {deadline:O}");
            AssertPolledUntilTheDeadline(TimeSpan.FromMilliseconds(1000), polls, deadline, result.OutTaskId!);
            Assert.InRange(polls.Count, 3, 6);
        }
    }

    [Fact]
    public async Task PollsWithoutAnAnswer_AreNotRetriedSooner_AndNoFinalPollComesTooSoonAtTheDeadline()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(100), CompletedAfter = TimeSpan.FromMinutes(5), Jitter = TimeSpan.Zero };
        await using var upstream = await SimulatorProcess.StartAsync(simulator);
        await using var harness = await EngineHarness.StartAsync("timing-faults", simulator,
            ("Aireiter:BaseUrl", upstream.BaseAddress.ToString()),
            ("Aireiter:Polling:InitialDelayMin", "00:00:00.500"),
            ("Aireiter:Polling:InitialDelayMax", "00:00:00.500"),
            ("Aireiter:Polling:IntervalMin", "00:00:00.800"),
            ("Aireiter:Polling:IntervalMax", "00:00:00.900"),
            ("Aireiter:Polling:Deadline", "00:00:06"),
            ("Aireiter:Polling:ReconcileWindow", "00:00:00"),
            ("Aireiter:QueryRetries", "3"),
            ("Engine:IdleTick", "00:00:00.050"));
        await harness.StartWorkerAsync();

        var enqueued = await harness.EnqueueAsync(6);
        await harness.WaitUntilAsync(async () => (await harness.ReadAsync()).Values.All(r => r.State == RequestState.Running),
            TimeSpan.FromSeconds(20), "all submitted");
        // From now on every other query fails: a 500 or a 429 without Retry-After.
        simulator.Faults.ServerErrorRate = 0.3;
        simulator.Faults.RateLimitRate = 0.3;
        await upstream.SetOptionsAsync(simulator);
        await harness.WaitUntilAsync(async () => (await harness.ReadAsync()).Values.All(r => r.State == RequestState.TimedOut),
            TimeSpan.FromSeconds(30), "all timed out");

        var stats = await upstream.StatsAsync();
        foreach (var result in enqueued)
        {
            var polls = stats.QueryRequestTimes[result.OutTaskId!];
            var deadline = stats.CreatedAtPerOutTaskId[result.OutTaskId!] + TimeSpan.FromSeconds(6);
            Assert.True(polls.Count >= 3, $"{result.OutTaskId} was polled {polls.Count} times");
            AssertNeverSoonerThan(TimeSpan.FromMilliseconds(800), polls, result.OutTaskId!);
            AssertPolledUntilTheDeadline(TimeSpan.FromMilliseconds(900), polls, deadline, result.OutTaskId!);
        }
    }

    /// <summary>
    /// Polling went on to the end: after the last poll the next one was due past the deadline (at most IntervalMax
    /// after the answer), or too close to it to ask again. A lost row would stop short. The allowance is for the
    /// time between the upstream seeing the query and the node taking the answer's time.
    /// </summary>
    private static void AssertPolledUntilTheDeadline(TimeSpan intervalMax, IReadOnlyList<DateTimeOffset> polls, DateTimeOffset deadline, string outTaskId)
    {
        var left = deadline - polls[^1];
        Assert.True(left < intervalMax + TimeSpan.FromMilliseconds(500),
            $"{outTaskId} was last polled {left.TotalMilliseconds:0} ms before its deadline; the next poll was due within {intervalMax.TotalMilliseconds:0} ms");
    }

    /// <summary>The upstream's rule: one query per interval. Arrival times are later than sending, so no slack is needed.</summary>
    private static void AssertNeverSoonerThan(TimeSpan intervalMin, IReadOnlyList<DateTimeOffset> polls, string outTaskId)
    {
        for (var i = 1; i < polls.Count; i++)
        {
            var gap = polls[i] - polls[i - 1];
            Assert.True(gap >= intervalMin,
                $"{outTaskId} was polled {gap.TotalMilliseconds:0} ms after the previous poll (poll {i + 1} of {polls.Count}); the minimum is {intervalMin.TotalMilliseconds:0} ms");
        }
    }
}
