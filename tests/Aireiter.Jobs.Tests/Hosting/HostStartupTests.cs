using Aireiter.Jobs.Worker.LocalDatabase;
using Aireiter.Jobs.Schema;
using Aireiter.Jobs.Tests.Infrastructure;
using Npgsql;

namespace Aireiter.Jobs.Tests.Hosting;

/// <summary>The worker executable started as a user starts it: a real process, real PostgreSQL.</summary>
public sealed class HostStartupTests
{
    [Fact]
    public async Task Serve_MigratesAnEmptyDatabase_AndAnswersReady()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("serve-ready");
        await using var worker = WorkerProcess.Start(Settings(database));

        await worker.WaitUntilReadyAsync();

        Assert.Equal(MigrationScript.Embedded().Count, await CountAsync(database, "select count(*) from schema_migrations"));
        // Hangfire created its schema in the same database, and this node's Hangfire server announced itself.
        Assert.Equal(1, await CountAsync(database, "select count(*) from hangfire.server"));
        Assert.Equal(0, await CountAsync(database, "select count(*) from information_schema.tables where table_name like 'qrtz%'"));
        Assert.Equal(0, await worker.StopAsync());
    }

    [Fact]
    public async Task Serve_WithoutAnApiKey_UsesTheBuiltInSimulator_AndSaysSoLoudly()
    {
        var database = await TestPostgres.CreateMigratedDatabaseAsync("serve-sim");
        await using var worker = WorkerProcess.Start(Settings(database));

        await worker.WaitUntilReadyAsync();

        Assert.Contains("WRN", await worker.WaitForLineAsync("built-in SIMULATOR"), StringComparison.Ordinal);
        Assert.Contains("SIMULATOR at http://127.0.0.1:", await worker.ReadyReportAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_WithAnApiKey_UsesTheConfiguredUpstream_AndNeverShowsTheKey()
    {
        const string key = "sk-live-NEVER-SHOWN-4242";
        var database = await TestPostgres.CreateMigratedDatabaseAsync("serve-keyed");
        await using var worker = WorkerProcess.Start(Settings(database,
            ("Aireiter:ApiKey", key), ("Aireiter:BaseUrl", "https://upstream.invalid/")));

        await worker.WaitUntilReadyAsync();
        var report = await worker.ReadyReportAsync();

        Assert.Contains("Aireiter API at https://upstream.invalid/", report, StringComparison.Ordinal);
        Assert.DoesNotContain(worker.Output, l => l.Contains("SIMULATOR", StringComparison.Ordinal));
        Assert.DoesNotContain(key, report, StringComparison.Ordinal);
        Assert.DoesNotContain(worker.Output, l => l.Contains(key, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Engine:MaxConcurentSubmits", "4", "'Engine:MaxConcurentSubmits' is not a setting (did you mean 'Engine:MaxConcurrentSubmits'?)")]
    [InlineData("Aireiter:Polling:IntervalMinimum", "00:00:04", "'Aireiter:Polling:IntervalMinimum' is not a setting")]
    [InlineData("Schedules:0:Cronn", "0 0 2 * * ?", "'Schedules:0:Cronn' is not a setting (did you mean 'Schedules:0:Cron'?)")]
    [InlineData("Engine:MaxConcurrentSubmits", "many", "Engine:MaxConcurrentSubmits must be a whole number.")]
    [InlineData("Engine:IdleTick", "soon", "Engine:IdleTick must be a duration such as 00:00:05.")]
    [InlineData("Telemetry:OtlpEndpont", "http://collector:4317", "'Telemetry:OtlpEndpont' is not a setting (did you mean 'Telemetry:OtlpEndpoint'?)")]
    [InlineData("Telemetry:OtlpProtocol", "udp", "Telemetry:OtlpProtocol must be one of Grpc, HttpProtobuf.")]
    [InlineData("Telemetry:OtlpEndpoint", "collector", "Telemetry:OtlpEndpoint must be an absolute http or https address such as http://collector:4317, not 'collector'.")]
    public async Task Serve_WithAnUnknownOrUnreadableSetting_StopsAndNamesIt(string key, string value, string expected)
    {
        var database = await TestPostgres.CreateMigratedDatabaseAsync("serve-unknown");
        await using var worker = WorkerProcess.Start(Settings(database, (key, value)));

        Assert.Equal(1, await worker.WaitForExitAsync());

        var error = Assert.Single(worker.Output, l => l.Contains("FTL", StringComparison.Ordinal));
        Assert.True(error.Contains(expected, StringComparison.Ordinal), error);
        Assert.DoesNotContain(worker.Output, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_WithAWrongAireiterSetting_StopsAndNamesIt()
    {
        var database = await TestPostgres.CreateMigratedDatabaseAsync("serve-badurl");
        await using var worker = WorkerProcess.Start(Settings(database,
            ("Aireiter:ApiKey", "k"), ("Aireiter:SubmitsPerSecond", "-1")));

        Assert.Equal(1, await worker.WaitForExitAsync());

        var error = Assert.Single(worker.Output, l => l.Contains("FTL", StringComparison.Ordinal));
        Assert.Contains("Aireiter:SubmitsPerSecond must be above 0", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoHosts_StartedAtOnce_OnOneEmptyDatabase_BothBecomeReady_AndMigrateOnce()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("serve-two");
        await using var first = WorkerProcess.Start(Settings(database, ("Cluster:NodeId", "node-a")));
        await using var second = WorkerProcess.Start(Settings(database, ("Cluster:NodeId", "node-b")));

        await Task.WhenAll(first.WaitUntilReadyAsync(), second.WaitUntilReadyAsync());

        Assert.Equal(MigrationScript.Embedded().Count, await CountAsync(database, "select count(*) from schema_migrations"));
        var migrated = first.Output.Concat(second.Output).Count(l => l.Contains("Applied migration 0001_initial.sql", StringComparison.Ordinal));
        Assert.Equal(1, migrated);
        // Ready means this node's Hangfire server has announced itself: one server per node, named after it.
        Assert.Equal(1, await CountAsync(database, "select count(*) from hangfire.server where id like 'node-a:%'"));
        Assert.Equal(1, await CountAsync(database, "select count(*) from hangfire.server where id like 'node-b:%'"));
    }

    [Fact]
    public async Task Serve_WithAnUnreachableDatabase_ExitsWithOneClearLine_AndNoPassword()
    {
        var connection = $"Host=127.0.0.1;Port={FreePort.Next()};Username=jobs;Password=s3cret-Pa55;Database=jobs;Timeout=3";
        await using var worker = WorkerProcess.Start(new Dictionary<string, string> { ["ConnectionStrings:Jobs"] = connection });

        Assert.Equal(1, await worker.WaitForExitAsync());

        var error = Assert.Single(worker.Output, l => l.Contains("FTL", StringComparison.Ordinal));
        Assert.Contains("Cannot reach PostgreSQL at 127.0.0.1", error, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings:Jobs", error, StringComparison.Ordinal);
        Assert.DoesNotContain(worker.Output, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain(worker.Output, l => l.Contains("s3cret-Pa55", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_WithAWrongPassword_SaysTheLoginWasRefused()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("serve-badpw");
        var wrong = new NpgsqlConnectionStringBuilder(database) { Password = "not-the-password" }.ConnectionString;
        await using var worker = WorkerProcess.Start(new Dictionary<string, string> { ["ConnectionStrings:Jobs"] = wrong });

        Assert.Equal(1, await worker.WaitForExitAsync());

        var error = Assert.Single(worker.Output, l => l.Contains("FTL", StringComparison.Ordinal));
        Assert.Contains("refused the login", error, StringComparison.Ordinal);
        Assert.DoesNotContain(worker.Output, l => l.Contains("not-the-password", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_WithAnInvalidSetting_StopsAndNamesTheSetting()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("serve-badsetting");
        await using var worker = WorkerProcess.Start(Settings(database, ("Hangfire:Workers", "0")));

        Assert.Equal(1, await worker.WaitForExitAsync());

        var error = Assert.Single(worker.Output, l => l.Contains("FTL", StringComparison.Ordinal));
        Assert.Contains("Hangfire:Workers must be between 1 and 100 (was 0)", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MigrateVerb_AppliesTheSchema_AndExitsZero()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("migrate-verb");
        await using var worker = WorkerProcess.Start(Settings(database), verb: "migrate");

        Assert.Equal(0, await worker.WaitForExitAsync());
        Assert.Equal(MigrationScript.Embedded().Count, await CountAsync(database, "select count(*) from schema_migrations"));
        Assert.True(await CountAsync(database, "select count(*) from information_schema.tables where table_schema = 'hangfire'") > 5,
            "migrate prepares Hangfire's tables too");
    }

    [Fact]
    public async Task Serve_WithoutAConnectionString_StartsAnEmbeddedDatabase_AndReusesItOnTheNextStart()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"aireiter-embedded-{Guid.NewGuid():N}");
        var dataDirectory = Path.Combine(folder, "postgres");
        var settings = new Dictionary<string, string>
        {
            ["EmbeddedDatabase:DataDirectory"] = dataDirectory,
            ["EmbeddedDatabase:Port"] = FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        try
        {
            await using (var first = WorkerProcess.Start(settings))
            {
                await first.WaitUntilReadyAsync(TimeSpan.FromSeconds(90));
                await first.WaitForLineAsync("Creating a local PostgreSQL cluster");
                Assert.Equal(0, await first.StopAsync());
            }

            await using var second = WorkerProcess.Start(settings);
            await second.WaitUntilReadyAsync();
            await second.WaitForLineAsync("Reusing the local PostgreSQL");
            Assert.DoesNotContain(second.Output, l => l.Contains("Creating a local PostgreSQL cluster", StringComparison.Ordinal));
            Assert.DoesNotContain(second.Output, l => l.Contains("Applied migration", StringComparison.Ordinal));
        }
        finally
        {
            await LocalPostgresCluster.StopAsync(dataDirectory, immediate: true);
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Serve_WithAWrongPostgresFolder_SaysWhereToPointIt()
    {
        await using var worker = WorkerProcess.Start(new Dictionary<string, string>
        {
            ["EmbeddedDatabase:BinDirectory"] = "/nowhere/postgresql/bin",
            ["EmbeddedDatabase:DataDirectory"] = Path.Combine(Path.GetTempPath(), $"aireiter-unused-{Guid.NewGuid():N}"),
        });

        Assert.Equal(1, await worker.WaitForExitAsync());

        var error = Assert.Single(worker.Output, l => l.Contains("FTL", StringComparison.Ordinal));
        Assert.Contains("EmbeddedDatabase:BinDirectory is '/nowhere/postgresql/bin'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void FindingPostgres_OnAMachineWithoutIt_SaysHowToInstallIt()
    {
        var error = Assert.Throws<LocalPostgresException>(() =>
            LocalPostgresCluster.FindBinaries(null, "/nowhere/lib/postgresql", "/nowhere/bin"));

        Assert.Contains("sudo apt-get install -y postgresql", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings:Jobs", error.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Settings(string connectionString, params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string> { ["ConnectionStrings:Jobs"] = connectionString };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static async Task<long> CountAsync(string connectionString, string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
