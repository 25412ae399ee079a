using System.Text.Json;
using Npgsql;

namespace Aireiter.Jobs.Batches;

/// <summary>Progress of one batch: counts per state, credits, and its start and end.</summary>
public sealed record BatchProgress(
    long Id,
    string Name,
    string Source,
    string? SourceDetail,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    decimal? CreditBudget,
    IReadOnlyDictionary<string, long> Counts,
    decimal EstimatedCredits,
    decimal CreditsUsed,
    DateTimeOffset? FirstSubmittedAt,
    DateTimeOffset? LastCompletedAt)
{
    public long Total => Counts.Values.Sum();

    public long Final => Count("succeeded") + Count("failed") + Count("timed_out") + Count("cancelled");

    public long Count(string state) => Counts.GetValueOrDefault(state);

    public bool IsFinished => Total > 0 && Final == Total;
}

/// <summary>Batches and their progress. Reads are single aggregate queries on the (batch_id, state) index.</summary>
public sealed class BatchStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>The batch with this name, created if it does not exist yet (a re-import finds the same one).</summary>
    public async Task<long> GetOrCreateAsync(string name, string source, string? detail, decimal? creditBudget, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await GetOrCreateAsync(connection, null, name, source, detail, creditBudget, cancellationToken);
    }

    /// <summary>As above, in the caller's transaction (an import that is rolled back leaves no empty batch).</summary>
    public async Task<long> GetOrCreateAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, string source,
        string? detail, decimal? creditBudget, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            with created as (
                insert into batches (name, source, source_detail, credit_budget, created_at)
                values (@name, @source, @detail, @budget, @now)
                on conflict (name) do nothing
                returning id
            )
            select id from created union all select id from batches where name = @name
            limit 1
            """, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("source", source);
        command.Parameters.Add(new NpgsqlParameter("detail", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)detail ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("budget", NpgsqlTypes.NpgsqlDbType.Numeric) { Value = (object?)creditBudget ?? DBNull.Value });
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<long?> FindAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select id from batches where name = @name");
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteScalarAsync(cancellationToken) as long?;
    }

    public async Task<BatchProgress?> ProgressAsync(long id, CancellationToken cancellationToken)
    {
        var list = await Query("where b.id = @id", cancellationToken, ("id", id));
        return list.Count == 0 ? null : list[0];
    }

    /// <summary>The newest batches first.</summary>
    public Task<IReadOnlyList<BatchProgress>> ListAsync(int limit, CancellationToken cancellationToken) =>
        Query("order by b.id desc limit @limit", cancellationToken, ("limit", limit));

    /// <summary>Marks every batch whose requests are all final as finished, with its summary. Returns those just finished.</summary>
    public async Task<IReadOnlyList<BatchProgress>> FinishCompletedAsync(CancellationToken cancellationToken)
    {
        var open = await Query("""
            where b.finished_at is null
              and exists (select 1 from generation_requests r where r.batch_id = b.id)
              and not exists (select 1 from generation_requests r where r.batch_id = b.id and r.state in ('queued', 'submitting', 'running'))
            """, cancellationToken);
        var finished = new List<BatchProgress>();
        foreach (var batch in open)
        {
            var now = time.GetUtcNow();
            var summary = JsonSerializer.Serialize(new
            {
                total = batch.Total,
                succeeded = batch.Count("succeeded"),
                failed = batch.Count("failed"),
                timed_out = batch.Count("timed_out"),
                cancelled = batch.Count("cancelled"),
                credits_estimated = batch.EstimatedCredits,
                credits_used = batch.CreditsUsed,
                started_at = batch.FirstSubmittedAt,
                finished_at = now,
            });
            await using var command = dataSource.CreateCommand(
                "update batches set finished_at = @now, summary = @summary::jsonb where id = @id and finished_at is null");
            command.Parameters.AddWithValue("now", now);
            command.Parameters.AddWithValue("summary", summary);
            command.Parameters.AddWithValue("id", batch.Id);
            if (await command.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                finished.Add(batch with { FinishedAt = now });
            }
        }

        return finished;
    }

    private async Task<IReadOnlyList<BatchProgress>> Query(string where, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        // Counts and credits come from the trigger-kept batch_counts; the first submit and last completion are only read
        // for a single batch (they need the batch's rows).
        var single = where.Contains("@id", StringComparison.Ordinal);
        await using var command = dataSource.CreateCommand($$"""
            select b.id, b.name, b.source, b.source_detail, b.created_at, b.finished_at, b.credit_budget,
                   coalesce((select jsonb_object_agg(state, n) from (
                       select state, sum(count) n from batch_counts c where c.batch_id = b.id group by state having sum(count) <> 0) s), '{}'::jsonb)::text,
                   coalesce((select sum(estimated_credits) from batch_counts c where c.batch_id = b.id), 0),
                   coalesce((select sum(credits_used) from batch_counts c where c.batch_id = b.id), 0),
                   {{(single ? "(select min(submitted_at) from generation_requests r where r.batch_id = b.id)" : "null::timestamptz")}},
                   {{(single ? "(select max(completed_at) from generation_requests r where r.batch_id = b.id)" : "null::timestamptz")}}
            from batches b
            {{where}}
            """);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var list = new List<BatchProgress>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new BatchProgress(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetDecimal(6),
                JsonSerializer.Deserialize<Dictionary<string, long>>(reader.GetString(7))!,
                reader.GetDecimal(8), reader.GetDecimal(9),
                reader.IsDBNull(10) ? null : reader.GetFieldValue<DateTimeOffset>(10),
                reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11)));
        }

        return list;
    }
}
