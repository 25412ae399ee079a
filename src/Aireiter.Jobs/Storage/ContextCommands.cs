using System.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Aireiter.Jobs.Storage;

/// <summary>
/// Runs a named statement as an Npgsql command on a context's own connection, inside the context's transaction when
/// one is open. This is for the engine's per-request statements (the lifecycle's edges and claims, the claim round's
/// limits): measured A/B on the throughput benchmark, EF's raw-SQL pipeline (<c>ExecuteSqlRaw</c>,
/// <c>SqlQueryRaw</c>) added about 30 % worker CPU per request and cost 7–10 % of requests/s, where a command on the
/// context's connection costs what a plain Npgsql command does. The context stays the door: it owns the connection,
/// the pool and the transaction. The request list and detail run the same way (measured: see <see cref="Monitoring.RequestQueries"/>).
/// </summary>
public static class ContextCommands
{
    /// <summary>Executes <paramref name="sql"/>; returns the rows it affected (for a CTE ending in an INSERT, the rows inserted).</summary>
    public static async Task<int> ExecuteAsync(this JobsDbContext db, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        var opened = await OpenAsync(db, cancellationToken);
        try
        {
            await using var command = Command(db, sql, parameters);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            await CloseAsync(db, opened);
        }
    }

    /// <summary>Runs <paramref name="sql"/> and reads each row with <paramref name="read"/> (by column name).</summary>
    public static async Task<List<T>> QueryAsync<T>(this JobsDbContext db, string sql, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken,
        params NpgsqlParameter[] parameters)
    {
        var opened = await OpenAsync(db, cancellationToken);
        try
        {
            await using var command = Command(db, sql, parameters);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var rows = new List<T>();
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(read(reader));
            }

            return rows;
        }
        finally
        {
            await CloseAsync(db, opened);
        }
    }

    private static NpgsqlCommand Command(JobsDbContext db, string sql, NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, (NpgsqlConnection)db.Database.GetDbConnection(),
            (NpgsqlTransaction?)db.Database.CurrentTransaction?.GetDbTransaction());
        command.Parameters.AddRange(parameters);
        return command;
    }

    /// <summary>
    /// Opens the context's connection unless a transaction (or the caller) already has it open. Opened on the connection
    /// itself, not through EF's connection events: this is a command of our own, and the context sees a closed connection
    /// again when it is done.
    /// </summary>
    private static async Task<bool> OpenAsync(JobsDbContext db, CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        if (connection.State == ConnectionState.Open)
        {
            return false;
        }

        await connection.OpenAsync(cancellationToken);
        return true;
    }

    private static async Task CloseAsync(JobsDbContext db, bool opened)
    {
        if (opened)
        {
            await db.Database.GetDbConnection().CloseAsync();
        }
    }
}
