using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Quartz;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>A per-job scheduler side by side: the same number of trivial one-off jobs through Quartz 4's clustered PostgreSQL store.</summary>
public static class QuartzJobs
{
    private static int _done;

    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int jobs)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddQuartz(q =>
        {
            q.ConfigureScheduler(o => { o.InstanceName = "bench-quartz"; o.InstanceId = "bench-1"; });
            q.UseDefaultThreadPool(10);
            q.UsePersistentStore(store =>
            {
                store.UsePostgres(NpgsqlFactory.Instance, db.ConnectionString);
                store.UseSystemTextJsonSerializer();
                store.UseClustering(c => { c.CheckinInterval = TimeSpan.FromSeconds(5); c.CheckinMisfireThreshold = TimeSpan.FromSeconds(10); });
                store.ProvisionSchema();
            });
        });
        await using var provider = services.BuildServiceProvider();
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var job = JobBuilder.Create<TrivialJob>().WithIdentity("trivial", "bench").StoreDurably().Build();
        await scheduler.AddJob(job, new AddJobOptions { Replace = true });
        await scheduler.Start();
        _done = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < jobs; i++)
        {
            var trigger = TriggerBuilder.Create().WithIdentity($"one-off-{i}", "bench").ForJob(job).StartNow().Build();
            await scheduler.ScheduleJob(trigger, cancellationToken: CancellationToken.None);
        }

        while (Volatile.Read(ref _done) < jobs)
        {
            await Task.Delay(20);
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        await scheduler.Shutdown(waitForJobsToComplete: true);
        return new() { ["jobs"] = jobs, ["seconds"] = elapsed, ["jobs_per_second"] = jobs / elapsed };
    }

    public sealed class TrivialJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _done);
            return ValueTask.CompletedTask;
        }
    }
}
