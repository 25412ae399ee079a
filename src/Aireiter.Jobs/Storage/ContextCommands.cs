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
    public static Task<List<T>> QueryAsync<T>(this JobsDbContext db, string sql, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken,
        params NpgsqlParameter[] parameters) =>
        Query(db, sql, prepare: false, read, parameters, cancellationToken);

    /// <summary>
    /// As <see cref="QueryAsync{T}"/>, for a statement read often and long enough that parsing it is a share of its cost:
    /// prepared on each physical connection the first time it runs there, so later calls skip the parse. Still planned on
    /// every call with its parameters' values (<see cref="JobsDatabase.CreateDataSource"/>).
    /// </summary>
    public static Task<List<T>> QueryPreparedAsync<T>(this JobsDbContext db, string sql, Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken, params NpgsqlParameter[] parameters) =>
        Query(db, sql, prepare: true, read, parameters, cancellationToken);

    private static async Task<List<T>> Query<T>(JobsDbContext db, string sql, bool prepare, Func<NpgsqlDataReader, T> read,
        NpgsqlParameter[] parameters, CancellationToken cancellationToken)
    {
        var opened = await OpenAsync(db, cancellationToken);
        try
        {
            await using var command = Command(db, sql, parameters);
            if (prepare)
            {
                await command.PrepareAsync(cancellationToken);
            }

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
