using System.Diagnostics;
using Aireiter.Jobs.BackgroundJobs;
using Hangfire;
using Hangfire.PostgreSql;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>
/// A per-job framework side by side: the same number of no-op Hangfire jobs through Hangfire.PostgreSql on the same
/// database (its own schema), with the settings that did best here: 20 workers, long polling, a 200 ms queue poll.
/// The jobs are enqueued first, then one server processes them; the figure is processing only.
/// </summary>
public static class HangfireJobs
{
    private static int _done;

    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int jobs)
    {
        var storage = new PostgreSqlStorage(new DataSourceConnections(db.DataSource), new PostgreSqlStorageOptions
        {
            SchemaName = "bench_hangfire",
            PrepareSchemaIfNecessary = true,
            QueuePollInterval = TimeSpan.FromMilliseconds(200),
            EnableLongPolling = true,
            UseSlidingInvisibilityTimeout = true,
            // Measured here: now and then a fetched job is never started (its fetch is lost) and waits for this timeout.
            InvisibilityTimeout = TimeSpan.FromSeconds(30),
        });
        var client = new BackgroundJobClient(storage);
        var enqueue = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, jobs), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            (_, _) => { client.Enqueue(() => NoOp()); return ValueTask.CompletedTask; });
        var enqueued = enqueue.Elapsed.TotalSeconds;

        _done = 0;
        await db.ExecuteAsync("select pg_stat_statements_reset()");
        var commitsBefore = await db.CommitsAsync();
        var clock = Stopwatch.StartNew();
        using (new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 20, ServerName = "bench-hangfire" }, storage))
        {
            while (Volatile.Read(ref _done) < jobs && clock.Elapsed < TimeSpan.FromMinutes(10))
            {
                await Task.Delay(20);
            }

            clock.Stop();
        }

        var commits = await db.CommitsAsync() - commitsBefore;
        var statements = await db.StatementsAsync();
        var elapsed = clock.Elapsed.TotalSeconds;
        var done = Volatile.Read(ref _done);
        return new()
        {
            ["jobs"] = jobs,
            ["done"] = done,
            ["enqueue_jobs_per_second"] = jobs / enqueued,
            ["seconds"] = elapsed,
            ["jobs_per_second"] = done / elapsed,
            ["commits_per_job"] = (double)commits / jobs,
            ["statements_per_job"] = (double)statements / jobs,
        };
    }

    [AutomaticRetry(Attempts = 0)]
    public static void NoOp() => Interlocked.Increment(ref _done);
}
