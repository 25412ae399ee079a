using Aireiter.Jobs.Worker.LocalDatabase;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Schema;
using Aireiter.Jobs.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Aireiter.Jobs.Tests.Engine;

/// <summary>The database going away, and an upstream that throttles and errors in bursts.</summary>
[Collection(TimingSensitive.Name)]
public sealed class ResilienceTests
{
    [Fact]
    public async Task PostgresStoppedMidRun_TheWorkersRecoverByThemselves_AndNothingIsLostOrBilledTwice()
    {
        // A server of this test's own: the shared one cannot be stopped under the other test classes.
        var folder = Path.Combine(Path.GetTempPath(), $"aireiter-outage-{Guid.NewGuid():N}");
        var settings = new LocalPostgresSettings { DataDirectory = Path.Combine(folder, "postgres"), Port = FreePort.Next(), Durable = false };
        var cluster = await LocalPostgresCluster.StartAsync(settings, "jobs", NullLogger.Instance, CancellationToken.None);
        try
        {
            var database = cluster.ConnectionString("jobs");
            await using (var dataSource = NpgsqlDataSource.Create(database))
            {
                await new SchemaMigrator(dataSource, MigrationScript.Embedded(), NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
            }

            var simulator = EngineHarness.FastSimulator();
            simulator.Faults.Latency = TimeSpan.FromMilliseconds(50);
            await using var harness = await EngineHarness.StartOnAsync(database, simulator,
                ("Engine:Limits:SubmitsPerSecond", "25"),
                ("Aireiter:Polling:Deadline", "00:01:00"));
            harness.OwnsDatabase = false;
            var workers = await Task.WhenAll(harness.StartWorkerAsync("node-a"), harness.StartWorkerAsync("node-b"));
            await harness.EnqueueAsync(150);
            await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
                "select count(*) from generation_requests where state = 'succeeded'") >= 20, TimeSpan.FromSeconds(30), "some progress");

            await cluster.StopAsync();
            harness.DataSource.Clear();
            await Task.Delay(TimeSpan.FromSeconds(8)); // the outage itself: the point of the test
            Assert.All(workers, w => Assert.False(w.HasExited, "a worker died while the database was down"));
            Assert.NotEqual("Healthy", await workers[0].ReadyStatusAsync());
            cluster = await LocalPostgresCluster.StartAsync(settings, "jobs", NullLogger.Instance, CancellationToken.None);

            await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(60));
            var rows = await harness.ReadAsync();
            var billed = harness.Simulator.Upstream.Stats().TasksBilledPerOutTaskId;
            Assert.Equal(150, rows.Count);
            Assert.All(rows.Values, r => Assert.Equal(RequestState.Succeeded, r.State));
            Assert.All(billed.Values, n => Assert.Equal(1, n));
            Assert.Equal(150, billed.Count);
            // Hangfire's server retries its heartbeat with a growing delay after an outage: readiness returns by itself soon after.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (await workers[0].ReadyStatusAsync() != "Healthy" && clock.Elapsed < TimeSpan.FromSeconds(45))
            {
                await Task.Delay(250);
            }

            Assert.True(await workers[0].ReadyStatusAsync() == "Healthy", await workers[0].ReadyReportAsync());
            Console.WriteLine($"ready again {clock.Elapsed.TotalSeconds:0.0} s after the last request finished");
        }
        finally
        {
            await cluster.StopAsync(immediate: true);
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task RateLimitStormsAndServerErrorBursts_BackOff_FailNothing_AndNeverExceedTheSubmitRate()
    {
        const int limit = 20;
        var simulator = EngineHarness.FastSimulator();
        // The upstream that judges the rate runs in a process of its own: arrival times are read where nothing else runs.
        await using var upstream = await SimulatorProcess.StartAsync(simulator);
        await using var harness = await EngineHarness.StartAsync("storms", simulator,
            ("Aireiter:BaseUrl", upstream.BaseAddress.ToString()),
            ("Engine:Limits:SubmitsPerSecond", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Engine:MaxConcurrentSubmits", "16"),
            // Scaled time: the storm lasts dozens of (50 ms) back-off periods, where a real one would last a few of 2 s.
            ("Engine:MaxSubmitAttempts", "30"),
            ("Aireiter:QueryRetries", "3"),
            ("Aireiter:Polling:Deadline", "00:01:00"));
        await harness.StartWorkerAsync();
        // Warm up first: a cold process's first calls (JIT, first connections) leave late and land together,
        // which says nothing about the pacing. The storm starts once one request has gone through.
        await harness.EnqueueAsync(1, "warm-up");
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));
        await upstream.ResetAsync();
        simulator.Faults.RateLimitRate = 0.5;
        simulator.Faults.RetryAfter = TimeSpan.FromSeconds(1);
        simulator.Faults.ServerErrorRate = 0.2;
        await upstream.SetOptionsAsync(simulator);

        await harness.EnqueueAsync(80);
        await harness.WaitUntilAsync(async () => (await upstream.StatsAsync()).SubmitRequests > 60, TimeSpan.FromSeconds(30), "the storm under way");
        simulator.Faults.ServerErrorRate = 0; // the burst ends; the throttling goes on
        await upstream.SetOptionsAsync(simulator);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(90));

        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        var stats = await upstream.StatsAsync();
        Assert.All(stats.TasksBilledPerOutTaskId.Values, n => Assert.Equal(1, n));

        // Never above the limit: in any one-second window (one more allowed for where a window's edge falls).
        var times = stats.SubmitRequestTimes.Order().ToList();
        var busiest = times.Select((t, i) => times.Skip(i).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count()).Max();
        var at = times.Select((t, i) => (t, n: times.Skip(i).TakeWhile(u => u - t < TimeSpan.FromSeconds(1)).Count())).MaxBy(x => x.n).t;
        Assert.True(busiest <= limit + 1, $"{busiest} submits reached the upstream within one second, {(at - times[0]).TotalMilliseconds:0} ms after the first; the limit is {limit}: " +
            string.Join(" ", times.Where(u => u >= at && u - at < TimeSpan.FromSeconds(1)).Select(u => (u - at).TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture))));

        // Back-off observed: after a 429 with Retry-After: 1, the same request was not claimed again sooner.
        await using var command = harness.DataSource.CreateCommand("""
            select extract(epoch from (next.at - e.at)) from request_events e
            join lateral (select at from request_events n where n.request_id = e.request_id and n.id > e.id and n.reason = 'claimed' order by n.id limit 1) next on true
            where e.reason = 'retry_later' and e.detail like 'RateLimited%'
            """);
        var gaps = new List<double>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                gaps.Add((double)reader.GetDecimal(0));
            }
        }

        Assert.NotEmpty(gaps);
        Assert.True(gaps.Min() >= 0.95, $"a rate-limited request was tried again after only {gaps.Min():0.000} s");
    }
}
