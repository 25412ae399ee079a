using Aireiter.Jobs.Schema;
using Aireiter.Jobs.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Aireiter.Jobs.Tests.Schema;

public sealed class SchemaMigratorTests
{
    [Fact]
    public void EmbeddedScripts_AreTheMigrationsFolder_InVersionOrder()
    {
        var scripts = MigrationScript.Embedded();

        Assert.NotEmpty(scripts);
        Assert.Equal("0001_initial.sql", scripts[0].FileName);
        Assert.Equal(scripts.Select(s => s.Version).Order(StringComparer.Ordinal), scripts.Select(s => s.Version));
    }

    [Fact]
    public void Checksum_IgnoresLineEndings_ButNotContent()
    {
        var lf = MigrationScript.FromFile("0001_a.sql", "create table a (x int);\n");
        var crlf = MigrationScript.FromFile("0001_a.sql", "create table a (x int);\r\n");
        var edited = MigrationScript.FromFile("0001_a.sql", "create table a (x bigint);\n");

        Assert.Equal(lf.Checksum, crlf.Checksum);
        Assert.NotEqual(lf.Checksum, edited.Checksum);
    }

    [Fact]
    public async Task Migrate_AppliesEveryFileOnce_AndRecordsItsChecksum()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("migrate-once");
        var scripts = MigrationScript.Embedded();

        var first = await Migrate(database, scripts);
        var second = await Migrate(database, scripts);

        Assert.Equal(scripts.Select(s => s.FileName), first.AppliedNow);
        Assert.Empty(second.AppliedNow);
        var recorded = await Query(database, "select version || ':' || checksum from schema_migrations order by version");
        Assert.Equal(scripts.Select(s => $"{s.Version}:{s.Checksum}"), recorded);
        await TestPostgres.DropDatabaseAsync(database);
    }

    [Fact]
    public async Task Migrate_RefusesToStart_WhenAnAppliedFileWasEdited_AndNamesTheFile()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("migrate-edited");
        await Migrate(database, [MigrationScript.FromFile("0001_first.sql", "create table first_table (x int);")]);

        var error = await Assert.ThrowsAsync<MigrationException>(() =>
            Migrate(database, [MigrationScript.FromFile("0001_first.sql", "create table first_table (x bigint);")]));

        Assert.Contains("0001_first.sql", error.Message, StringComparison.Ordinal);
        Assert.Contains("new migration", error.Message, StringComparison.Ordinal);
        await TestPostgres.DropDatabaseAsync(database);
    }

    [Fact]
    public async Task Migrate_RollsBackAFailingFile_KeepsTheOnesBefore_AndNamesIt()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("migrate-broken");
        var good = MigrationScript.FromFile("0001_good.sql", "create table good_table (x int);");
        var broken = MigrationScript.FromFile("0002_broken.sql", "create table half_done (x int); create table broken (;");

        var error = await Assert.ThrowsAsync<MigrationException>(() => Migrate(database, [good, broken]));

        Assert.Contains("0002_broken.sql", error.Message, StringComparison.Ordinal);
        Assert.Equal(["0001"], await Query(database, "select version from schema_migrations"));
        Assert.Empty(await Query(database, "select tablename::text from pg_tables where tablename = 'half_done'"));

        var fixedLater = MigrationScript.FromFile("0002_broken.sql", "create table half_done (x int);");
        var result = await Migrate(database, [good, fixedLater]);
        Assert.Equal(["0002_broken.sql"], result.AppliedNow);
        await TestPostgres.DropDatabaseAsync(database);
    }

    [Fact]
    public async Task Migrate_FromManyNodesAtOnce_AppliesEachFileExactlyOnce()
    {
        var database = await TestPostgres.CreateEmptyDatabaseAsync("migrate-race");
        var scripts = MigrationScript.Embedded();

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => Migrate(database, scripts))));

        // Exactly one of the racers applied the files; the rest found them applied.
        Assert.Equal(scripts.Count, results.Sum(r => r.AppliedNow.Count));
        Assert.Single(results, r => r.AppliedNow.Count > 0);
        Assert.Equal(scripts.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Assert.Single(await Query(database, "select count(*)::text from schema_migrations")));
        await TestPostgres.DropDatabaseAsync(database);
    }

    private static async Task<MigrationResult> Migrate(string connectionString, IReadOnlyList<MigrationScript> scripts)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        return await new SchemaMigrator(dataSource, MigrationScript.Ordered(scripts), NullLogger<SchemaMigrator>.Instance)
            .MigrateAsync(CancellationToken.None);
    }

    private static async Task<List<string>> Query(string connectionString, string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }
}
