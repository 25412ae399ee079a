using Aireiter.Jobs.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace Aireiter.Jobs.Housekeeping;

/// <summary>Prunes request events older than <see cref="EngineOptions.EventRetention"/>, in small batches so it never holds long locks.</summary>
[DisallowConcurrentExecution]
public sealed partial class RetentionJob(NpgsqlDataSource dataSource, IOptionsMonitor<EngineOptions> engine, TimeProvider time,
    ILogger<RetentionJob> logger) : IJob
{
    public static readonly JobKey Key = new("retention", "housekeeping");
    private const int BatchSize = 5000;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
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

        context.Result = JobRunReport.Succeeded().With("deleted", total);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Count} request events older than {Cutoff}")]
    private partial void LogPruned(int count, DateTimeOffset cutoff);
}
