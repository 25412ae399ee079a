using Aireiter.Jobs.Testing;
using System.Diagnostics;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>
/// N requests through one worker against the simulator with fast completions and scaled-down polling:
/// requests/s end to end, state transitions/s, polls/s, commits per request, CPU and peak RSS of the worker.
/// </summary>
public static class Throughput
{
    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int requests)
    {
        var options = new SimulatorOptions
        {
            Seed = 5,
            Timing = new TaskTiming { ProcessingAfter = TimeSpan.Zero, CompletedAfter = TimeSpan.FromMilliseconds(300), Jitter = TimeSpan.FromMilliseconds(100) },
        };
        await using var simulator = await SimulatorHost.StartAsync(options);
        await db.EnqueueAsync(requests, "T", "throughput");

        await db.ExecuteAsync("select pg_stat_statements_reset(); select pg_stat_reset();");
        var commitsBefore = await db.CommitsAsync();
        var clock = Stopwatch.StartNew();
        await using var worker = await BenchWorker.StartAsync(Settings(db, simulator, new()
        {
            ["Engine:MaxConcurrentSubmits"] = "32",
            ["Engine:MaxConcurrentPolls"] = "128",
            ["Engine:Limits:MaxInFlight"] = "10000",
            ["Engine:Limits:SubmitsPerSecond"] = "10000",
            ["Aireiter:Polling:InitialDelayMin"] = "00:00:00.300",
            ["Aireiter:Polling:InitialDelayMax"] = "00:00:00.400",
            ["Aireiter:Polling:IntervalMin"] = "00:00:00.200",
            ["Aireiter:Polling:IntervalMax"] = "00:00:00.300",
        }));
        double peakRss = 0;
        while (await db.ScalarAsync<long>("select count(*) from generation_requests where state in ('queued', 'submitting', 'running')") > 0)
        {
            peakRss = Math.Max(peakRss, worker.PeakRssMb());
            await Task.Delay(250);
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        var cpu = worker.CpuSeconds();
        peakRss = Math.Max(peakRss, worker.PeakRssMb());
        await Task.Delay(1000); // statistics are reported with a small delay
        var commits = await db.CommitsAsync() - commitsBefore;
        var transitions = await db.ScalarAsync<long>("select count(*) from request_events");
        var polls = await db.ScalarAsync<long>("select coalesce(sum(polls), 0) from generation_requests");
        await db.PrintTopStatementsAsync("throughput");
        var succeeded = await db.ScalarAsync<long>("select count(*) from generation_requests where state = 'succeeded'");
        return new()
        {
            ["requests"] = requests,
            ["succeeded"] = succeeded,
            ["seconds"] = elapsed,
            ["requests_per_second"] = requests / elapsed,
            ["transitions_per_second"] = transitions / elapsed,
            ["polls_per_second"] = polls / elapsed,
            ["polls_per_request"] = (double)polls / requests,
            ["commits_per_request"] = (double)commits / requests,
            ["commits_per_request_outside_polls"] = (double)(commits - polls) / requests,
            ["worker_cpu_seconds_per_1000"] = cpu / requests * 1000,
            ["worker_peak_rss_mb"] = peakRss,
        };
    }

    internal static Dictionary<string, string> Settings(BenchDatabase db, RunningSimulator simulator, Dictionary<string, string> more)
    {
        var settings = new Dictionary<string, string>
        {
            ["ConnectionStrings:Jobs"] = db.ConnectionString,
            ["Aireiter:BaseUrl"] = simulator.BaseAddress.ToString(),
            ["Aireiter:ApiKey"] = simulator.Options.ApiKey,
            ["Aireiter:SubmitsPerSecond"] = "10000",
            ["Aireiter:CircuitBreaker:MinimumThroughput"] = "100000",
            ["Engine:IdleTick"] = "00:00:00.100",
            ["Cluster:NodeId"] = "bench",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }
}
