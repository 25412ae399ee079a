using Aireiter.Jobs.Worker.LocalDatabase;
using Aireiter.Jobs.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>
/// The PostgreSQL server of this test run: the one named by <c>AIREITER_TEST_POSTGRES</c> (an admin
/// connection string), else a throwaway private cluster started once and stopped when the run ends.
/// Each test class gets its own database, cloned from a template that was migrated once.
/// </summary>
public static class TestPostgres
{
    public const string ServerVariable = "AIREITER_TEST_POSTGRES";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static Server? _server;

    /// <summary>A new, migrated database of its own.</summary>
    public static Task<string> CreateMigratedDatabaseAsync(string hint) => CreateDatabaseAsync(hint, migrated: true);

    /// <summary>A new database with nothing in it, for tests of the migrator and of start-up itself.</summary>
    public static Task<string> CreateEmptyDatabaseAsync(string hint) => CreateDatabaseAsync(hint, migrated: false);

    public static async Task DropDatabaseAsync(string connectionString)
    {
        var server = await GetServer();
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(server.AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"drop database if exists \"{name}\" with (force)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    /// <summary>The admin connection string of the server, for tests that manage databases themselves.</summary>
    public static async Task<string> AdminConnectionStringAsync() => (await GetServer()).AdminConnectionString;

    private static async Task<string> CreateDatabaseAsync(string hint, bool migrated)
    {
        var server = await GetServer();
        var name = $"t_{new string(hint.ToLowerInvariant().Where(char.IsLetterOrDigit).Take(30).ToArray())}_{Guid.NewGuid():N}";
        await using (var admin = new NpgsqlConnection(server.AdminConnectionString))
        {
            await admin.OpenAsync();
            var template = migrated ? $" template \"{server.TemplateDatabase}\"" : "";
            // Cloning needs the template to be free of other sessions; one clone at a time keeps it so.
            await Gate.WaitAsync();
            try
            {
                await using var create = new NpgsqlCommand($"create database \"{name}\"{template}", admin);
                await create.ExecuteNonQueryAsync();
            }
            finally
            {
                Gate.Release();
            }
        }

        // Pooled, as the product runs: the admin connection's "no pooling" must not reach the engine under test. Without a pool
        // each statement of a worker opened a session of its own (about 20 a second per idle worker, 1,200 in one minute-long
        // test), and a busy machine then ran the engine several times slower than it runs for anyone else.
        return new NpgsqlConnectionStringBuilder(server.AdminConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    private static async Task<Server> GetServer()
    {
        if (_server is not null)
        {
            return _server;
        }

        await Gate.WaitAsync();
        try
        {
            return _server ??= await StartServer();
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<Server> StartServer()
    {
        string admin;
        var external = Environment.GetEnvironmentVariable(ServerVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            admin = external;
        }
        else
        {
            var folder = Path.Combine(Path.GetTempPath(), $"aireiter-jobs-tests-{Environment.ProcessId}-{Guid.NewGuid():N}"[..48]);
            var cluster = await PrivatePostgres.StartAsync(folder, durable: false);
            admin = cluster.ConnectionString("postgres");
            StopWhenThisProcessEnds(cluster, folder);
        }

        // Pooling off for the admin connection: a pooled idle session would count as "using" a template.
        admin = new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString;
        var template = $"aireiter_template_{Guid.NewGuid():N}"[..40];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create database \"{template}\"", connection);
            await create.ExecuteNonQueryAsync();
        }

        var templateConnection = new NpgsqlConnectionStringBuilder(admin) { Database = template }.ConnectionString;
        await using (var dataSource = NpgsqlDataSource.Create(templateConnection))
        {
            await new SchemaMigrator(dataSource, MigrationScript.Embedded(), NullLogger<SchemaMigrator>.Instance)
                .MigrateAsync(CancellationToken.None);
        }

        return new Server(admin, template);
    }

    /// <summary>
    /// The test host may be killed rather than allowed to finish, so the cluster is stopped and its folder
    /// removed by a small watchdog that outlives it, not by an exit handler that might never run.
    /// </summary>
    private static void StopWhenThisProcessEnds(LocalPostgresCluster cluster, string folder)
    {
        static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
        var stop = string.Join(' ', cluster.StopCommandLine(immediate: true).Select(Quote));
        var script = $"while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {Quote(folder)}";
        var watchdog = new System.Diagnostics.ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var argument in new[] { "sh", "-c", script })
        {
            watchdog.ArgumentList.Add(argument);
        }

        System.Diagnostics.Process.Start(watchdog)!.Dispose();
    }

    private sealed record Server(string AdminConnectionString, string TemplateDatabase);
}
