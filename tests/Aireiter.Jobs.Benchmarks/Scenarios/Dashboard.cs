using System.Diagnostics;
using System.Globalization;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>Every read the dashboard's pages and the API's list endpoints run, timed at a million rows.</summary>
public static class Dashboard
{
    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int rows, int failures)
    {
        // Enough runs that p99 is not simply the slowest one: 40 gave a p99 that moved by half between runs, 400 by a
        // millisecond on the small pages.
        const int runs = 1000;
        // The product's own data source, so each query pays what it pays in the product.
        await using var dataSource = JobsDatabase.CreateDataSource(db.ConnectionString);
        var seeding = Stopwatch.StartNew();
        await Seed(dataSource, rows, failures);
        Console.WriteLine($"Seeded {rows:N0} requests ({failures:N0} failed) with {rows * 3L:N0} events in {seeding.Elapsed.TotalSeconds:0} s.");
        // The tables as autovacuum leaves them, before the clock starts: otherwise it vacuums 4,000,000 fresh rows in the
        // middle of the measurement, and every query's p99 is the vacuum's, not its own.
        await db.ExecuteAsync("vacuum analyze generation_requests, request_prompts, request_events, batches");
        await db.ExecuteAsync("checkpoint");
        var results = new Dictionary<string, double>();
        var time = TimeProvider.System;
        var contexts = JobsDbContext.CreateFactory(dataSource);
        var overview = new OverviewQueries(contexts, new Fixed<EngineOptions>(new EngineOptions()), time);
        var requests = new RequestQueries(contexts);
        var batches = new BatchStore(contexts, time);
        var someId = await db.ScalarAsync<string>("select out_task_id from generation_requests where state = 'failed' order by id desc limit 1");
        var someKey = await db.ScalarAsync<string>("select item_key from generation_requests order by id limit 1 offset 1000");
        var deep = await db.ScalarAsync<long>($"select id from generation_requests order by id desc limit 1 offset {rows / 2}");
        var batchId = await db.ScalarAsync<long>("select id from batches order by id limit 1 offset 50");
        var batchName = await db.ScalarAsync<string>($"select name from batches where id = {batchId}");
        var window = new RequestFilter { From = DateTimeOffset.UtcNow.AddDays(-10), To = DateTimeOffset.UtcNow.AddDays(-9) };

        var queries = new (string Name, Func<Task> Run)[]
        {
            ("Overview: stats (counts, throughput, credits, pauses, nodes)", () => overview.StatsAsync(CancellationToken.None)),
            ("Hangfire home tiles: today's completions and credits", () => overview.TodayAsync(CancellationToken.None)),
            ("Requests: newest page (50)", () => requests.ListAsync(new RequestFilter(), null, 50, CancellationToken.None)),
            ($"Requests: a page {rows / 2:N0} rows deep (keyset)", () => requests.ListAsync(new RequestFilter(), deep, 50, CancellationToken.None)),
            ("Requests: state = failed (50)", () => requests.ListAsync(new RequestFilter { State = "failed" }, null, 50, CancellationToken.None)),
            ("Failures view: failed + timed out (100 each)", async () =>
            {
                await requests.ListAsync(new RequestFilter { State = "failed" }, null, 100, CancellationToken.None);
                await requests.ListAsync(new RequestFilter { State = "timed_out" }, null, 100, CancellationToken.None);
            }),
            ("Requests: batch filter (50)", () => requests.ListAsync(new RequestFilter { Batch = batchName }, null, 50, CancellationToken.None)),
            ("Requests: model filter (50)", () => requests.ListAsync(new RequestFilter { Model = "seedream_v5_lite" }, null, 50, CancellationToken.None)),
            ("Requests: search by key", () => requests.ListAsync(new RequestFilter { Text = someKey }, null, 50, CancellationToken.None)),
            ("Requests: a day's window, 9 days back (50)", () => requests.ListAsync(window, null, 50, CancellationToken.None)),
            ("Requests: prompt text matching none", () => requests.ListAsync(new RequestFilter { Prompt = "no prompt has these words" }, null, 50, CancellationToken.None)),
            ("Requests: prompt text matching one", () => requests.ListAsync(new RequestFilter { Prompt = $"item {rows / 3} on" }, null, 50, CancellationToken.None)),
            ("Requests: prompt text matching all (50)", () => requests.ListAsync(new RequestFilter { Prompt = "product photo" }, null, 50, CancellationToken.None)),
            ("Request detail (timeline, outputs)", () => requests.DetailAsync(someId, CancellationToken.None)),
            ("Batches: list with progress (50)", () => batches.ListAsync(50, CancellationToken.None)),
            ("Batch: one batch's progress", () => batches.ProgressAsync(batchId, CancellationToken.None)),
        };

        Console.WriteLine();
        Console.WriteLine($"Dashboard and API read queries, {rows:N0} requests, {failures:N0} failed; {runs} runs each after 20 warm-ups");
        Console.WriteLine();
        Console.WriteLine("| Query | p50 ms | p99 ms | max ms |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (name, run) in queries)
        {
            for (var i = 0; i < 20; i++)
            {
                await run();
            }

            var times = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var clock = Stopwatch.StartNew();
                await run();
                times.Add(clock.Elapsed.TotalMilliseconds);
            }

            times.Sort();
            var p99 = times[(int)Math.Ceiling(times.Count * 0.99) - 1];
            results[$"{name} p50 ms"] = times[times.Count / 2];
            results[$"{name} p99 ms"] = p99;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {times[times.Count / 2]:0.0} | {p99:0.0} | {times[^1]:0.0} |"));
        }
        return results;
    }

    private static async Task Seed(NpgsqlDataSource dataSource, int rows, int failures)
    {
        await using var command = dataSource.CreateCommand($"""
            insert into batches (name, source, created_at)
            select 'catalogue-' || b, 'file', now() - interval '30 days' + b * interval '7 hours' from generate_series(1, 100) b;

            insert into generation_requests (out_task_id, batch_id, item_key, model, params, state, priority, due_at, attempts, polls,
                estimated_credits, credits_used, error_kind, error_message, created_at, updated_at, submitted_at, completed_at)
            select 'k-' || md5(i::text), (select min(id) from batches) + i % 100, 'SKU-' || i,
                   (array['gpt_image_2', 'seedream_v5_lite', 'gpt_image_2_official'])[1 + i % 3],
                   jsonb_build_object('prompt', 'A product photo of item ' || i || ' on white', 'aspect_ratio', '1:1', 'resolution', '2K'),
                   s.state, 0, case when s.state in ('queued', 'running') then now() + interval '1 day' end, 1, 5,
                   10, case when s.state in ('succeeded', 'failed') then 10 end,
                   case when s.state = 'failed' then 'upstream_failed' when s.state = 'timed_out' then 'timed_out' end,
                   case when s.state = 'failed' then 'generation failed: the model returned no image' end,
                   t.created, t.created + interval '95 seconds', t.created + interval '2 seconds',
                   case when s.state not in ('queued', 'running') then t.created + interval '95 seconds' end
            from generate_series(1, {rows}) i
            -- Newer ids were created later, as in the product.
            cross join lateral (select now() - (({rows} - i)::double precision / {rows}) * interval '30 days' as created) t
            cross join lateral (select case when i % ({rows} / {failures}) = 0 then 'failed'
                                            when i % 197 = 0 then 'timed_out'
                                            when i > {rows} - 2000 then 'queued'
                                            when i > {rows} - 2500 then 'running'
                                            else 'succeeded' end as state) s;

            insert into request_events (request_id, at, from_state, to_state, reason, node)
            select r.id, r.created_at + e.offset_s * interval '1 second', e.from_state, e.to_state, e.reason, 'bench'
            from generation_requests r
            cross join (values (0, 'queued', 'submitting', 'claimed'), (2, 'submitting', 'running', 'submitted'),
                               (95, 'running', 'succeeded', 'completed')) as e(offset_s, from_state, to_state, reason);

            analyze;
            """);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync();
    }

    private sealed class Fixed<T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;
        public T Get(string? name) => value;
        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}
