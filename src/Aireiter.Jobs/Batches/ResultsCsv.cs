using System.Globalization;
using Npgsql;

namespace Aireiter.Jobs.Batches;

/// <summary>A batch's results as CSV, streamed row by row: key, out_task_id, state, output URLs, stored files, credits, error.</summary>
public static class ResultsCsv
{
    public static async Task<long> WriteAsync(NpgsqlDataSource dataSource, long batchId, TextWriter writer, CancellationToken cancellationToken)
    {
        await writer.WriteLineAsync("key,out_task_id,state,output_urls,stored_files,credits_used,error");
        await using var command = dataSource.CreateCommand("""
            select r.item_key, r.out_task_id, r.state,
                   coalesce((select string_agg(o.url, ' ' order by o.position) from request_outputs o where o.request_id = r.id), ''),
                   coalesce((select string_agg(o.stored_path, ' ' order by o.position) from request_outputs o where o.request_id = r.id and o.stored_path is not null), ''),
                   r.credits_used, r.error_message
            from generation_requests r where r.batch_id = @batch order by r.id
            """);
        command.Parameters.AddWithValue("batch", batchId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        long rows = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            var fields = new[]
            {
                reader.IsDBNull(0) ? "" : reader.GetString(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.IsDBNull(5) ? "" : reader.GetDecimal(5).ToString("0.##", CultureInfo.InvariantCulture),
                reader.IsDBNull(6) ? "" : reader.GetString(6),
            };
            await writer.WriteLineAsync(string.Join(',', fields.Select(Quote)));
            rows++;
        }

        return rows;
    }

    private static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
