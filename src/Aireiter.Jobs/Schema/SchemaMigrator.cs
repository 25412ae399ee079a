using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aireiter.Jobs.Schema;

/// <summary>
/// Applies the versioned SQL files in order, each in its own transaction, under a PostgreSQL
/// advisory lock so that nodes starting at the same moment apply each file exactly once.
/// An applied file whose text changed stops everything: the database and the code disagree.
/// </summary>
public sealed class SchemaMigrator(NpgsqlDataSource dataSource, IReadOnlyList<MigrationScript> scripts, ILogger<SchemaMigrator> logger)
{
    // Any constant will do, as long as every node uses the same one: it names "the migration lock".
    private const long AdvisoryLockKey = 0x4169_5265_6974_6572; // "AiReiter"

    public async Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        await Execute(connection, "select pg_advisory_lock(@key)", cancellationToken, ("key", AdvisoryLockKey));
        try
        {
            await Execute(connection, """
                create table if not exists schema_migrations (
                    version     text        primary key,
                    file_name   text        not null,
                    checksum    text        not null,
                    applied_at  timestamptz not null default now()
                )
                """, cancellationToken);

            var applied = await ReadApplied(connection, cancellationToken);
            CheckAppliedFilesUnchanged(applied);

            var unknown = applied.Keys.Where(v => scripts.All(s => s.Version != v)).Order(StringComparer.Ordinal).ToList();
            if (unknown.Count > 0)
            {
                // A newer node migrated further; this one can still run on the schema it knows.
                logger.LogWarning("The database has migrations this build does not know: {Versions}", string.Join(", ", unknown));
            }

            var pending = scripts.Where(s => !applied.ContainsKey(s.Version)).ToList();
            foreach (var script in pending)
            {
                await Apply(connection, script, cancellationToken);
            }

            if (pending.Count == 0)
            {
                logger.LogInformation("Schema is up to date ({Count} migrations applied)", applied.Count);
            }

            return new MigrationResult(pending.Select(s => s.FileName).ToList(), applied.Count + pending.Count);
        }
        finally
        {
            // Released on a connection that is still good; a broken one releases it by closing.
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await Execute(connection, "select pg_advisory_unlock(@key)", CancellationToken.None, ("key", AdvisoryLockKey));
            }
        }
    }

    private void CheckAppliedFilesUnchanged(Dictionary<string, (string FileName, string Checksum)> applied)
    {
        foreach (var script in scripts)
        {
            if (applied.TryGetValue(script.Version, out var stored) && stored.Checksum != script.Checksum)
            {
                throw new MigrationException(
                    $"Migration {script.FileName} was edited after it was applied (stored checksum {stored.Checksum[..12]}, " +
                    $"file now {script.Checksum[..12]}). Applied migrations must not change: restore the file and " +
                    "put the change in a new migration.");
            }
        }
    }

    private async Task Apply(NpgsqlConnection connection, MigrationScript script, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            await using (var command = new NpgsqlCommand(script.Sql, connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var record = new NpgsqlCommand(
                "insert into schema_migrations (version, file_name, checksum) values (@version, @file, @checksum)",
                connection, transaction))
            {
                record.Parameters.AddWithValue("version", script.Version);
                record.Parameters.AddWithValue("file", script.FileName);
                record.Parameters.AddWithValue("checksum", script.Checksum);
                await record.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }
        catch (PostgresException ex)
        {
            throw new MigrationException($"Migration {script.FileName} failed and was rolled back: {ex.MessageText}", ex);
        }

        logger.LogInformation("Applied migration {FileName}", script.FileName);
    }

    private static async Task<Dictionary<string, (string FileName, string Checksum)>> ReadApplied(
        NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        await using var command = new NpgsqlCommand("select version, file_name, checksum from schema_migrations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            applied[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2));
        }

        return applied;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken,
        params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>What a migration run did: the files it applied now, and how many are applied in all.</summary>
public sealed record MigrationResult(IReadOnlyList<string> AppliedNow, int TotalApplied);
