using Aireiter.Jobs.Testing;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>What one worker node with nothing to do costs the database: statements per second (pg_stat_statements).</summary>
public static class Idle
{
    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int seconds)
    {
        await using var simulator = await SimulatorHost.StartAsync(new SimulatorOptions());
        // The shipped defaults, only the database and the upstream pointed at this run's.
        await using var worker = await BenchWorker.StartAsync(new Dictionary<string, string>
        {
            ["ConnectionStrings:Jobs"] = db.ConnectionString,
            ["Aireiter:BaseUrl"] = simulator.BaseAddress.ToString(),
            ["Aireiter:ApiKey"] = simulator.Options.ApiKey,
            ["Cluster:NodeId"] = "idle",
        });
        await Task.Delay(TimeSpan.FromSeconds(5)); // past start-up
        await db.ExecuteAsync("select pg_stat_statements_reset()");
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        var calls = await db.StatementsAsync();
        await using (var command = db.DataSource.CreateCommand(
            "select calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) from pg_stat_statements " +
            "where dbid = (select oid from pg_database where datname = current_database()) and query not like '%pg_stat_statements%' " +
            "order by calls desc limit 12"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            Console.WriteLine("Idle: most frequent statements");
            while (await reader.ReadAsync())
            {
                Console.WriteLine($"  {reader.GetInt64(0),6}  {reader.GetString(1)}");
            }
        }

        return new() { ["seconds"] = seconds, ["statements"] = calls, ["statements_per_second"] = (double)calls / seconds };
    }
}
