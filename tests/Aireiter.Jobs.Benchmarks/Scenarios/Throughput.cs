using Aireiter.Jobs.Testing;
using System.Diagnostics;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>
/// N requests through one or more workers on one database against the simulator with fast completions and scaled-down
/// polling: requests/s end to end, state transitions/s, polls/s, commits and WAL bytes per request, CPU and peak RSS of
/// the workers, and the CPU PostgreSQL and the harness (with the simulator) spent beside them. With several nodes it answers whether a node adds throughput or the database is the limit.
/// </summary>
public static class Throughput
{
    private static int _runs;

    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int requests, int nodes = 1)
    {
        var options = new SimulatorOptions
        {
            Seed = 5,
            Timing = new TaskTiming { ProcessingAfter = TimeSpan.Zero, CompletedAfter = TimeSpan.FromMilliseconds(300), Jitter = TimeSpan.FromMilliseconds(100) },
        };
        await using var simulator = await SimulatorHost.StartAsync(options);
        // Each run its own keys: a second run on the same database must not find its requests already present.
        var prefix = $"T{Interlocked.Increment(ref _runs)}";
        await db.EnqueueAsync(requests, prefix, prefix);

        // Every figure is a difference, so the scenario can run after others on the same database.
        await db.ExecuteAsync("select pg_stat_statements_reset(); select pg_stat_reset();");
        var commitsBefore = await db.CommitsAsync();
        var eventsBefore = await db.ScalarAsync<long>("select count(*) from request_events");
        var pollsBefore = await db.ScalarAsync<long>("select coalesce(sum(polls), 0) from generation_requests");
        var walBefore = await db.ScalarAsync<decimal>("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')");
        var cpuBefore = await CpuSplit.SampleAsync(db);
        var clock = Stopwatch.StartNew();
        var workers = await Task.WhenAll(Enumerable.Range(1, nodes).Select(node => BenchWorker.StartAsync(Settings(db, simulator, new()
        {
            ["Cluster:NodeId"] = nodes == 1 ? "bench" : $"bench-{node}",
            ["Engine:MaxConcurrentSubmits"] = "32",
            ["Engine:MaxConcurrentPolls"] = "128",
            ["Engine:Limits:MaxInFlight"] = "10000",
            ["Engine:Limits:SubmitsPerSecond"] = "10000",
            ["Aireiter:Polling:InitialDelayMin"] = "00:00:00.300",
            ["Aireiter:Polling:InitialDelayMax"] = "00:00:00.400",
            ["Aireiter:Polling:IntervalMin"] = "00:00:00.200",
            ["Aireiter:Polling:IntervalMax"] = "00:00:00.300",
        }))));
        try
        {
            double peakRss = 0;
            while (await db.ScalarAsync<long>("select count(*) from generation_requests where state in ('queued', 'submitting', 'running')") > 0)
            {
                peakRss = Math.Max(peakRss, workers.Max(w => w.PeakRssMb()));
                await Task.Delay(250);
            }

            var elapsed = clock.Elapsed.TotalSeconds;
            var cpu = workers.Sum(w => w.CpuSeconds());
            var split = await CpuSplit.SampleAsync(db) - cpuBefore;
            peakRss = Math.Max(peakRss, workers.Max(w => w.PeakRssMb()));
            var wal = await db.ScalarAsync<decimal>("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')") - walBefore;
            await Task.Delay(1000); // statistics are reported with a small delay
            var commits = await db.CommitsAsync() - commitsBefore;
            var transitions = await db.ScalarAsync<long>("select count(*) from request_events") - eventsBefore;
            var polls = await db.ScalarAsync<long>("select coalesce(sum(polls), 0) from generation_requests") - pollsBefore;
            // Polls commit in claim rounds and grouped reschedules, each statement a transaction of its own: counted by
            // statement, since a round or a group serves many polls.
            var pollCommits = await db.ScalarAsync<long>("""
                select coalesce(sum(calls), 0)::bigint from pg_stat_statements
                where dbid = (select oid from pg_database where datname = current_database())
                  and (query like '%polls = r.polls +%' or query like '%as p(id, state, due, polled)%')
                """);
            await db.PrintTopStatementsAsync(nodes == 1 ? "throughput" : $"throughput, {nodes} nodes");
            var succeeded = await db.ScalarAsync<long>($"select count(*) from generation_requests where state = 'succeeded' and item_key like '{prefix}-%'");
            return new()
            {
                ["nodes"] = nodes,
                ["requests"] = requests,
                ["succeeded"] = succeeded,
                ["seconds"] = elapsed,
                ["requests_per_second"] = requests / elapsed,
                ["transitions_per_second"] = transitions / elapsed,
                ["polls_per_second"] = polls / elapsed,
                ["polls_per_request"] = (double)polls / requests,
                ["commits_per_request"] = (double)commits / requests,
                ["commits_per_request_outside_polls"] = (double)(commits - pollCommits) / requests,
                ["commits_per_poll"] = polls == 0 ? 0 : (double)pollCommits / polls,
                ["wal_bytes_per_request"] = (double)wal / requests,
                ["worker_cpu_seconds_per_1000"] = cpu / requests * 1000,
                ["postgres_cpu_seconds_per_1000"] = split.PostgresSeconds / requests * 1000,
                ["harness_and_simulator_cpu_seconds_per_1000"] = split.HarnessSeconds / requests * 1000,
                ["machine_busy_percent"] = split.MachineBusyPercent,
                ["worker_peak_rss_mb"] = peakRss,
            };
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
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
