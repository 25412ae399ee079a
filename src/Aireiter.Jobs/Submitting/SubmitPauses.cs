using Microsoft.Extensions.DependencyInjection;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aireiter.Jobs.Submitting;

/// <summary>Why submitting stands still for the whole cluster, kept in the database so every node obeys it.</summary>
public static class PauseReasons
{
    public const string Unauthorized = "unauthorized";
    public const string InsufficientCredits = "insufficient_credits";
    public const string Operator = "operator";
}

/// <summary>
/// Starts and ends cluster-wide pauses. An account fault (bad key, no credits) pauses every node at once,
/// requests stay queued, and one request is tried every probe interval until the account works again;
/// failing ten thousand requests one by one for one empty account would be the bug.
/// </summary>
public sealed partial class SubmitPauses([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource, IDbContextFactory<JobsDbContext> contexts, TimeProvider time,
    ILogger<SubmitPauses> logger)
{
    public async Task PauseAsync(string reason, string message, TimeSpan probeAfter, string by, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = dataSource.CreateCommand("""
            insert into submit_pauses (reason, message, paused_at, probe_at, paused_by)
            values (@reason, @message, @now, @probe, @by)
            on conflict (reason) do update set message = excluded.message
            returning (xmax = 0)
            """);
        command.Parameters.AddWithValue("reason", reason);
        command.Parameters.AddWithValue("message", message);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("probe", now + probeAfter);
        command.Parameters.AddWithValue("by", by);
        if (await command.ExecuteScalarAsync(cancellationToken) is true)
        {
            LogPaused(reason, message);
        }
    }

    /// <summary>Ends the pauses the engine set itself (an operator's pause is ended only by an operator).</summary>
    public async Task<int> ResumeAutomaticAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("delete from submit_pauses where reason <> @operator");
        command.Parameters.AddWithValue("operator", PauseReasons.Operator);
        var ended = await command.ExecuteNonQueryAsync(cancellationToken);
        if (ended > 0)
        {
            LogResumed("a probe submit was accepted");
        }

        return ended;
    }

    /// <summary>An operator's "resume now": ends every pause.</summary>
    public async Task<int> ResumeAllAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("delete from submit_pauses");
        var ended = await command.ExecuteNonQueryAsync(cancellationToken);
        if (ended > 0)
        {
            LogResumed("an operator resumed it");
        }

        return ended;
    }

    /// <summary>What holds submitting for the cluster right now, oldest first.</summary>
    public async Task<IReadOnlyList<SubmitPause>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await ListAsync(db, cancellationToken);
    }

    /// <summary>A command on the context, not LINQ: the overview, its tiles and the health check read it every few seconds.</summary>
    internal static async Task<IReadOnlyList<SubmitPause>> ListAsync(JobsDbContext db, CancellationToken cancellationToken) =>
        await db.QueryAsync("select reason, message, paused_at, probe_at, paused_by from submit_pauses order by paused_at",
            r => new SubmitPause
            {
                Reason = r.GetString(r.GetOrdinal("reason")),
                Message = r.GetString(r.GetOrdinal("message")),
                PausedAt = r.GetFieldValue<DateTimeOffset>(r.GetOrdinal("paused_at")),
                ProbeAt = r.GetValueOrNull<DateTimeOffset>("probe_at"),
                PausedBy = r.GetStringOrNull("paused_by"),
            },
            cancellationToken);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Submitting is PAUSED for the whole cluster ({Reason}): {UpstreamMessage}. Requests stay queued.")]
    private partial void LogPaused(string reason, string upstreamMessage);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Submitting resumed: {Why}")]
    private partial void LogResumed(string why);
}
