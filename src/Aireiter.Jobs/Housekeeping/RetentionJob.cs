using Aireiter.Jobs.Engine;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>
/// Prunes request events older than <see cref="EngineOptions.EventRetention"/>, in small batches so it never holds long
/// locks. A Hangfire recurring job (hourly, once per cluster); running it twice deletes nothing twice.
/// </summary>
[AutomaticRetry(Attempts = 0)]
public sealed partial class RetentionJob(NpgsqlDataSource dataSource, IOptionsMonitor<EngineOptions> engine, TimeProvider time,
    ILogger<RetentionJob> logger)
{
    public const string RecurringJobId = "housekeeping:event-retention";
    private const int BatchSize = 5000;

    [JobDisplayName("Prune old request events")]
    public async Task<string> RunAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - engine.CurrentValue.EventRetention;
        var total = 0;
        int deleted;
        do
        {
            await using var command = dataSource.CreateCommand("""
                delete from request_events where id in (select id from request_events where at < @cutoff limit @batch)
                """);
            command.Parameters.AddWithValue("cutoff", cutoff);
            command.Parameters.AddWithValue("batch", BatchSize);
            deleted = await command.ExecuteNonQueryAsync(cancellationToken);
            total += deleted;
        }
        while (deleted == BatchSize && !cancellationToken.IsCancellationRequested);

        if (total > 0)
        {
            LogPruned(total, cutoff);
        }

        return $"{total} events older than {cutoff:u} deleted";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Count} request events older than {Cutoff}")]
    private partial void LogPruned(int count, DateTimeOffset cutoff);
}
