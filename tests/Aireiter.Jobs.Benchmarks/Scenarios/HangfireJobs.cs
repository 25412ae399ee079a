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
    private static long _lastDone; // when the latest job ran (a Stopwatch timestamp)

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
        var start = Stopwatch.GetTimestamp();
        _lastDone = start;
        using (new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 20, ServerName = "bench-hangfire" }, storage))
        {
            // Until every job ran, or none has for a minute: twice the invisibility timeout, after which a lost fetch
            // would have come back. The rate is taken to the last job that ran, so a job that never runs does not
            // stretch it (in one full run two of 20,000 never ran, and a fixed 10-minute wait made the rate 33 jobs/s).
            while (Volatile.Read(ref _done) < jobs && Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastDone)) < TimeSpan.FromMinutes(1))
            {
                await Task.Delay(20);
            }
        }

        var commits = await db.CommitsAsync() - commitsBefore;
        var statements = await db.StatementsAsync();
        var elapsed = Stopwatch.GetElapsedTime(start, Interlocked.Read(ref _lastDone)).TotalSeconds;
        var done = Volatile.Read(ref _done);
        if (done < jobs)
        {
            var states = await db.ScalarAsync<string>("""
                select coalesce(string_agg(coalesce(statename, 'none') || ': ' || n, ', '), 'none recorded')
                from (select statename, count(*) as n from bench_hangfire.job where statename is distinct from 'Succeeded' group by 1) s
                """);
            Console.WriteLine($"Hangfire: {jobs - done} of {jobs} jobs never ran within a minute of the last one; jobs not succeeded by state: {states}");
        }

        return new()
        {
            ["jobs"] = jobs,
            ["done"] = done,
            ["never_ran"] = jobs - done,
            ["enqueue_jobs_per_second"] = jobs / enqueued,
            ["seconds"] = elapsed,
            ["jobs_per_second"] = done / elapsed,
            ["commits_per_job"] = (double)commits / jobs,
            ["statements_per_job"] = (double)statements / jobs,
        };
    }

    [AutomaticRetry(Attempts = 0)]
    public static void NoOp()
    {
        Interlocked.Increment(ref _done);
        Interlocked.Exchange(ref _lastDone, Stopwatch.GetTimestamp());
    }
}
