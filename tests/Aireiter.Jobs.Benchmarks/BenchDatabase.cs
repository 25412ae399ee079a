using System.Text.Json.Nodes;
using Aireiter.Jobs.Worker.LocalDatabase;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Schema;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Aireiter.Jobs.Benchmarks;

/// <summary>
/// The one database a run measures on: a private, durable PostgreSQL started for the run (with
/// pg_stat_statements, so statements can be counted), or AIREITER_BENCH_POSTGRES (an admin connection string).
/// </summary>
public sealed class BenchDatabase : IAsyncDisposable
{
    private readonly LocalPostgresCluster? _cluster;
    private readonly string _folder;

    private BenchDatabase(LocalPostgresCluster? cluster, string folder, string admin, string connectionString)
    {
        _cluster = cluster;
        _folder = folder;
        Admin = admin;
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string Admin { get; }
    public string ConnectionString { get; }
    public NpgsqlDataSource DataSource { get; }
    public NpgsqlConnectionStringBuilder Parts => new(ConnectionString);

    public static async Task<BenchDatabase> StartAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"aireiter-bench-{Guid.NewGuid():N}");
        LocalPostgresCluster? cluster = null;
        string admin;
        if (Environment.GetEnvironmentVariable("AIREITER_BENCH_POSTGRES") is { Length: > 0 } external)
        {
            admin = external;
        }
        else
        {
            cluster = await PrivatePostgres.StartAsync(folder, durable: true,
                "shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = 'all'", "max_wal_size = '4GB'");
            admin = cluster.ConnectionString("postgres");
        }

        var name = $"bench_{Guid.NewGuid():N}"[..20];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create database {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        var database = new BenchDatabase(cluster, folder, admin, connectionString);
        await new SchemaMigrator(database.DataSource, MigrationScript.Embedded(), NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
        await database.ExecuteAsync("create extension if not exists pg_stat_statements");
        return database;
    }

    public async Task ExecuteAsync(string sql, int timeoutSeconds = 0)
    {
        await using var command = DataSource.CreateCommand(sql);
        command.CommandTimeout = timeoutSeconds;
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        command.CommandTimeout = 0;
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Transactions committed in this database so far (pg_stat_database; stats lag by up to a moment).</summary>
    public Task<long> CommitsAsync() => ScalarAsync<long>("select xact_commit from pg_stat_database where datname = current_database()");

    /// <summary>Statements this database ran since the last <c>pg_stat_statements_reset()</c>, the counting ones left out.</summary>
    public Task<long> StatementsAsync() => ScalarAsync<long>("""
        select coalesce(sum(calls), 0) from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database()) and query not like '%pg_stat_statements%'
        """);

    /// <summary>Enqueues <paramref name="count"/> plain gpt_image_2 requests with keys <paramref name="prefix"/>-0, -1, …, in chunks.</summary>
    public async Task EnqueueAsync(int count, string prefix, string scope)
    {
        var contexts = JobsDbContext.CreateFactory(DataSource);
        var enqueuer = new RequestEnqueuer(contexts, new BatchStore(contexts, TimeProvider.System), new FixedOptions<EngineOptions>(new EngineOptions()),
            TimeProvider.System);
        foreach (var chunk in Enumerable.Range(0, count).Chunk(10_000))
        {
            await enqueuer.EnqueueAsync(chunk.Select(i => new NewRequest("gpt_image_2",
                new JsonObject { ["prompt"] = $"item {i}", ["aspect_ratio"] = "1:1", ["resolution"] = "2K" }) { Key = $"{prefix}-{i}" }).ToList(),
                scope, CancellationToken.None);
        }
    }

    /// <summary>The statements that took the most database time since the last reset (pg_stat_statements), for profiling.</summary>
    public async Task PrintTopStatementsAsync(string title, int count = 10)
    {
        await using var command = DataSource.CreateCommand($"""
            select calls, round(total_exec_time::numeric, 0), round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 110)
            from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
            order by total_exec_time desc limit {count}
            """);
        await using var reader = await command.ExecuteReaderAsync();
        Console.WriteLine($"{title}: top statements by database time");
        while (await reader.ReadAsync())
        {
            Console.WriteLine($"  {reader.GetInt64(0),9:N0} calls {reader.GetDecimal(1),8:N0} ms {reader.GetDecimal(2),8:0.000} ms/call  {reader.GetString(3)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (_cluster is not null)
        {
            await _cluster.StopAsync(immediate: true);
            Directory.Delete(_folder, recursive: true);
        }
    }
}
