using System.Diagnostics;
using System.Text.Json.Nodes;
using Aireiter.Client;
using Aireiter.Client.Protocol;
using Aireiter.Simulator;
using Aireiter.Jobs.BackgroundJobs;
using Hangfire;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>
/// The literal design, measured so a reader sees why the engine does not run per-request work on Hangfire: one
/// Hangfire job submits a request, then each poll is a delayed Hangfire job that reschedules itself until the task
/// is done, against the same simulator and timings as the throughput scenario. Tuned: 50 workers (20 did 40 requests/s,
/// 50 did 43), 100 ms queue poll, 1 s schedule poll, sliding invisibility. Reports requests/s, commits and statements per request.
/// </summary>
public static class HangfirePerRequest
{
    private static AireiterClient _client = null!;
    private static IBackgroundJobClient _jobs = null!;
    private static int _done;

    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int requests)
    {
        var options = new SimulatorOptions
        {
            Seed = 5,
            Timing = new TaskTiming { ProcessingAfter = TimeSpan.Zero, CompletedAfter = TimeSpan.FromMilliseconds(300), Jitter = TimeSpan.FromMilliseconds(100) },
        };
        await using var simulator = await SimulatorHost.StartAsync(options);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aireiter:BaseUrl"] = simulator.BaseAddress.ToString(),
            ["Aireiter:ApiKey"] = simulator.Options.ApiKey,
            ["Aireiter:SubmitsPerSecond"] = "10000",
            ["Aireiter:CircuitBreaker:MinimumThroughput"] = "100000",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddLogging().AddAireiterClient(configuration);
        await using var provider = services.BuildServiceProvider();
        _client = provider.GetRequiredService<AireiterClient>();

        var storage = new PostgreSqlStorage(new DataSourceConnections(db.DataSource), new PostgreSqlStorageOptions
        {
            SchemaName = "bench_literal",
            PrepareSchemaIfNecessary = true,
            QueuePollInterval = TimeSpan.FromMilliseconds(100),
            // Long polling made this worse here: 50 workers each listening cost 365 commits per request, at 24 requests/s.
            EnableLongPolling = false,
            UseSlidingInvisibilityTimeout = true,
            InvisibilityTimeout = TimeSpan.FromSeconds(30),
        });
        _jobs = new BackgroundJobClient(storage);
        _done = 0;
        await db.ExecuteAsync("select pg_stat_statements_reset()");
        var commitsBefore = await db.CommitsAsync();
        var clock = Stopwatch.StartNew();
        using (new BackgroundJobServer(new BackgroundJobServerOptions
               {
                   WorkerCount = 50, ServerName = "bench-literal", SchedulePollingInterval = TimeSpan.FromSeconds(1),
               }, storage))
        {
            for (var i = 0; i < requests; i++)
            {
                var key = $"L-{i}";
                _jobs.Enqueue(() => Submit(key));
            }

            while (Volatile.Read(ref _done) < requests && clock.Elapsed < TimeSpan.FromMinutes(10))
            {
                await Task.Delay(100);
            }

            clock.Stop();
        }

        var commits = await db.CommitsAsync() - commitsBefore;
        var statements = await db.StatementsAsync();
        var done = Volatile.Read(ref _done);
        return new()
        {
            ["requests"] = requests,
            ["succeeded"] = done,
            ["seconds"] = clock.Elapsed.TotalSeconds,
            ["requests_per_second"] = done / clock.Elapsed.TotalSeconds,
            ["commits_per_request"] = (double)commits / Math.Max(1, done),
            ["statements_per_request"] = (double)statements / Math.Max(1, done),
        };
    }

    [AutomaticRetry(Attempts = 0)]
    public static async Task Submit(string key)
    {
        await _client.SubmitAsync(new SubmitRequest("gpt_image_2", new JsonObject { ["prompt"] = "a chair", ["resolution"] = "1K" }, key), CancellationToken.None);
        _jobs.Schedule(() => Poll(key), TimeSpan.FromMilliseconds(300));
    }

    [AutomaticRetry(Attempts = 0)]
    public static async Task Poll(string key)
    {
        var outcome = await _client.PollByOutTaskIdAsync(key, CancellationToken.None);
        if (outcome.Value?.Status is UpstreamStatus.Completed or UpstreamStatus.Failed)
        {
            Interlocked.Increment(ref _done);
            return;
        }

        _jobs.Schedule(() => Poll(key), TimeSpan.FromMilliseconds(200));
    }
}
