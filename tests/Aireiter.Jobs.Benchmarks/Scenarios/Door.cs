using System.Diagnostics;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Storage;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>
/// What EF Core as the door costs one statement, without the noise of a whole run: the same two statements of the hot
/// path (the next-due read every claim round makes, a lease renewal) through <see cref="RequestLifecycle"/> (a pooled
/// context rented, the command on its connection) and as a plain command on the data source, in alternating blocks,
/// 16 callers at once like the loops. Figures: this process's CPU and the wall time per statement.
/// </summary>
public static class Door
{
    private const int Callers = 16;
    private const int PerBlock = 4_000;
    private const int Blocks = 6;

    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db)
    {
        await db.EnqueueAsync(1_000, "door", "door");
        var ids = new long[] { await db.ScalarAsync<long>("select min(id) from generation_requests") };
        await db.ExecuteAsync($"update generation_requests set lease_owner = 'door' where id = {ids[0]}");
        var dataSource = JobsDatabase.CreateDataSource(db.ConnectionString);
        var lifecycle = new RequestLifecycle(JobsDbContext.CreateFactory(dataSource), Options.Create(new ClusterOptions { NodeId = "door" }));

        async Task Door()
        {
            await lifecycle.NextDueAsync(RequestState.Queued, DateTimeOffset.UtcNow, CancellationToken.None);
            await lifecycle.RenewAsync(ids, DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        }

        async Task Plain()
        {
            await using (var next = dataSource.CreateCommand(LifecycleSql.NextDue))
            {
                next.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = "queued" });
                next.Parameters.Add(new NpgsqlParameter("now", DateTimeOffset.UtcNow));
                await next.ExecuteScalarAsync();
            }

            await using var renew = dataSource.CreateCommand(LifecycleSql.Renew);
            renew.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = ids });
            renew.Parameters.Add(new NpgsqlParameter("lease", DateTimeOffset.UtcNow.AddMinutes(1)));
            renew.Parameters.Add(new NpgsqlParameter("node", NpgsqlDbType.Text) { Value = "door" });
            await using var reader = await renew.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
            }
        }

        await Block(Door, PerBlock / 4);
        await Block(Plain, PerBlock / 4);
        var door = new List<(double Cpu, double Wall)>();
        var plain = new List<(double Cpu, double Wall)>();
        for (var i = 0; i < Blocks; i++)
        {
            door.Add(await Block(Door, PerBlock));
            plain.Add(await Block(Plain, PerBlock));
        }

        // Two statements per call.
        double Median(List<(double Cpu, double Wall)> blocks, Func<(double Cpu, double Wall), double> pick) =>
            blocks.Select(pick).Order().ElementAt(blocks.Count / 2) / 2;

        var result = new Dictionary<string, double>
        {
            ["door_cpu_us_per_statement"] = Median(door, b => b.Cpu),
            ["plain_cpu_us_per_statement"] = Median(plain, b => b.Cpu),
            ["door_wall_us_per_statement"] = Median(door, b => b.Wall),
            ["plain_wall_us_per_statement"] = Median(plain, b => b.Wall),
        };
        Console.WriteLine($"Door: per statement, median of {Blocks} blocks of {PerBlock:N0} calls ({Callers} callers): " +
                          $"CPU {result["door_cpu_us_per_statement"]:0.0} µs through the context, {result["plain_cpu_us_per_statement"]:0.0} µs plain; " +
                          $"wall {result["door_wall_us_per_statement"]:0.0} / {result["plain_wall_us_per_statement"]:0.0} µs");
        await dataSource.DisposeAsync();
        return result;
    }

    /// <summary>Runs <paramref name="calls"/> calls on <see cref="Callers"/> callers; returns this process's CPU and the wall time per call, in µs.</summary>
    private static async Task<(double Cpu, double Wall)> Block(Func<Task> call, int calls)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        var left = calls;
        await Task.WhenAll(Enumerable.Range(0, Callers).Select(async _ =>
        {
            while (Interlocked.Decrement(ref left) >= 0)
            {
                await call();
            }
        }));
        process.Refresh();
        return ((process.TotalProcessorTime - cpu).TotalMicroseconds / calls, wall.Elapsed.TotalMicroseconds / calls);
    }
}
