using System.ComponentModel.DataAnnotations.Schema;
using System.Globalization;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Aireiter.Jobs.Batches;

/// <summary>A batch's results as CSV, streamed row by row: key, out_task_id, state, output URLs, stored files, credits, error.</summary>
public sealed class ResultsCsv(IDbContextFactory<JobsDbContext> contexts)
{
    public async Task<long> WriteAsync(long batchId, TextWriter writer, CancellationToken cancellationToken)
    {
        await writer.WriteLineAsync("key,out_task_id,state,output_urls,stored_files,credits_used,error");
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Streamed: a batch of 100,000 rows is never held in memory.
        var rows = db.Database.SqlQueryRaw<ResultRow>("""
            select r.item_key, r.out_task_id, r.state,
                   coalesce((select string_agg(o.url, ' ' order by o.position) from request_outputs o where o.request_id = r.id), '') as output_urls,
                   coalesce((select string_agg(o.stored_path, ' ' order by o.position)
                             from request_outputs o where o.request_id = r.id and o.stored_path is not null), '') as stored_files,
                   r.credits_used, r.error_message
            from generation_requests r where r.batch_id = @batch order by r.id
            """, new NpgsqlParameter("batch", batchId)).AsAsyncEnumerable();
        long count = 0;
        await foreach (var row in rows.WithCancellation(cancellationToken))
        {
            string[] fields =
            [
                row.Key ?? "", row.OutTaskId, row.State, row.OutputUrls, row.StoredFiles,
                row.CreditsUsed?.ToString("0.##", CultureInfo.InvariantCulture) ?? "", row.Error ?? "",
            ];
            await writer.WriteLineAsync(string.Join(',', fields.Select(Quote)));
            count++;
        }

        return count;
    }

    private sealed class ResultRow
    {
        [Column("item_key")] public string? Key { get; init; }
        [Column("out_task_id")] public required string OutTaskId { get; init; }
        [Column("state")] public required string State { get; init; }
        [Column("output_urls")] public required string OutputUrls { get; init; }
        [Column("stored_files")] public required string StoredFiles { get; init; }
        [Column("credits_used")] public decimal? CreditsUsed { get; init; }
        [Column("error_message")] public string? Error { get; init; }
    }

    private static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
