using Aireiter.Jobs.Testing;
using System.Diagnostics;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>
/// Capacity and punctuality: one worker holding <c>inFlight</c> tasks at once with the documented timings
/// (first poll 10-20 s after submit, then every 3-5 s; the simulator completes a task about 60 s after
/// submit), kept full from a deep queue for the measured period. Poll lateness (query start minus due
/// time) comes from the node's own heartbeat reports, one per check-in interval: the median is the
/// poll-weighted median of the intervals' medians, p99 the worst interval's p99, max the worst poll.
/// </summary>
public static class Punctuality
{
    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int inFlight, int measureSeconds, bool smoke)
    {
        var completion = smoke ? TimeSpan.FromSeconds(3) : TimeSpan.FromSeconds(60);
        var simulator = new SimulatorOptions
        {
            Seed = 9,
            Timing = new TaskTiming { ProcessingAfter = completion / 12, CompletedAfter = completion, Jitter = completion / 6 },
        };
        await using var upstream = await SimulatorHost.StartAsync(simulator);

        // Enough work to keep the node full for the whole run: one full load plus what completes meanwhile.
        var total = (int)(inFlight * (1 + (measureSeconds + 60) / completion.TotalSeconds));
        await db.EnqueueAsync(total, "P", "punctuality");

        var settings = new Dictionary<string, string>
        {
            ["Engine:MaxConcurrentSubmits"] = "32",
            ["Engine:Limits:MaxInFlight"] = inFlight.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Engine:Limits:SubmitsPerSecond"] = "1000",
            ["Cluster:HeartbeatInterval"] = smoke ? "00:00:01" : "00:00:05",
        };
        if (smoke)
        {
            settings["Aireiter:Polling:InitialDelayMin"] = "00:00:00.500";
            settings["Aireiter:Polling:InitialDelayMax"] = "00:00:01";
            settings["Aireiter:Polling:IntervalMin"] = "00:00:00.300";
            settings["Aireiter:Polling:IntervalMax"] = "00:00:00.500";
        }

        var worker = await BenchWorker.StartAsync(Throughput.Settings(db, upstream, settings));
        try
        {
            return await Measure(db, worker, inFlight, measureSeconds, smoke);
        }
        finally
        {
            // The deep queue is left unfinished on purpose: take it out of the way of the scenarios after this one.
            await worker.DisposeAsync();
            await db.ExecuteAsync("""
                update generation_requests set state = 'cancelled', due_at = null, lease_owner = null, lease_expires_at = null
                where state in ('queued', 'submitting', 'running');
                update generation_requests set due_at = null where state = 'timed_out';
                """);
        }
    }

    private static async Task<Dictionary<string, double>> Measure(BenchDatabase db, WorkerProcess worker, int inFlight, int measureSeconds, bool smoke)
    {
        // From the counters the engine keeps (its in-flight limit reads the same): counting the rows instead took about
        // 50 ms of database time at every sample (168 samples, 8.5 s in a 180-s full run), on the two cores the measured
        // node shares with it.
        const string InFlightSql = "select coalesce(sum(count), 0)::bigint from request_counts where state in ('submitting', 'running')";
        var ramp = Stopwatch.StartNew();
        while (await db.ScalarAsync<long>(InFlightSql) < inFlight * 0.95)
        {
            worker.ThrowIfExited();
            if (ramp.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new InvalidOperationException($"The worker did not reach {inFlight} tasks in flight within 5 minutes.");
            }

            await Task.Delay(500);
        }

        var rampSeconds = ramp.Elapsed.TotalSeconds;

        // Fresh statistics, as autovacuum gives them within its naptime (a minute by default) after the ramp
        // turned the table from all queued to mostly running; measuring starts from the steady state.
        await db.ExecuteAsync("analyze generation_requests");
        var timedOutBefore = await db.ScalarAsync<long>("select count(*) from generation_requests where state = 'timed_out'");
        var pollsBefore = await db.ScalarAsync<long>("select coalesce(sum(polls), 0) from generation_requests");
        await db.ExecuteAsync("select pg_stat_statements_reset()");
        var cpuBefore = worker.CpuSeconds();
        var clock = Stopwatch.StartNew();
        var windows = new List<(int Polls, int P50, int P99, int Max)>();
        DateTime? lastBeat = null;
        var inFlightSamples = new List<long>();
        while (clock.Elapsed < TimeSpan.FromSeconds(measureSeconds))
        {
            await Task.Delay(smoke ? 250 : 1000);
            worker.ThrowIfExited();
            await using (var command = db.DataSource.CreateCommand(
                "select heartbeat_at, polls_last_interval, poll_lateness_p50_ms, poll_lateness_p99_ms, poll_lateness_max_ms from cluster_nodes where node_id = 'bench'"))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                if (await reader.ReadAsync() && reader.GetDateTime(0) != lastBeat)
                {
                    // The first report after the start may cover part of the ramp: it is not counted.
                    if (lastBeat is not null && !reader.IsDBNull(2))
                    {
                        windows.Add((reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4)));
                    }

                    lastBeat = reader.GetDateTime(0);
                }
            }

            inFlightSamples.Add(await db.ScalarAsync<long>(InFlightSql));
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        var cpu = worker.CpuSeconds() - cpuBefore;
        var polls = await db.ScalarAsync<long>("select coalesce(sum(polls), 0) from generation_requests") - pollsBefore;
        var timedOut = await db.ScalarAsync<long>("select count(*) from generation_requests where state = 'timed_out'") - timedOutBefore;
        Console.WriteLine("punctuality: lateness per heartbeat interval (polls p50/p99/max ms): " +
                          string.Join("  ", windows.Select(w => $"{w.Polls} {w.P50}/{w.P99}/{w.Max}")));
        await db.PrintTopStatementsAsync("punctuality");
        foreach (var warning in worker.Output.Where(l => l.Contains("WRN", StringComparison.Ordinal) || l.Contains("ERR", StringComparison.Ordinal)).Take(5))
        {
            Console.WriteLine($"punctuality: worker said: {warning}");
        }

        if (windows.Count == 0)
        {
            throw new InvalidOperationException("The worker reported no poll lateness while measured.");
        }

        return new()
        {
            ["tasks_in_flight_target"] = inFlight,
            ["tasks_in_flight_mean"] = inFlightSamples.Average(),
            ["ramp_seconds"] = rampSeconds,
            ["measured_seconds"] = elapsed,
            ["polls_per_second"] = polls / elapsed,
            ["poll_lateness_p50_ms"] = WeightedMedian(windows),
            ["poll_lateness_p99_ms"] = windows.Max(w => w.P99),
            ["poll_lateness_max_ms"] = windows.Max(w => w.Max),
            ["timed_out"] = timedOut,
            ["worker_cpu_percent_of_one_core"] = cpu / elapsed * 100,
            ["worker_peak_rss_mb"] = worker.PeakRssMb(),
        };
    }

    private static double WeightedMedian(List<(int Polls, int P50, int P99, int Max)> windows)
    {
        var half = windows.Sum(w => (long)w.Polls) / 2.0;
        long seen = 0;
        foreach (var window in windows.OrderBy(w => w.P50))
        {
            seen += window.Polls;
            if (seen >= half)
            {
                return window.P50;
            }
        }

        return windows.Max(w => w.P50);
    }
}
