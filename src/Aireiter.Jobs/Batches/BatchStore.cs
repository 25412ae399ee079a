using System.Text.Json;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Aireiter.Jobs.Batches;

/// <summary>
/// Progress of one batch: counts per state, credits, and its start and end: the earliest submit and the latest completion
/// it has seen (a retried request does not move them back).
/// </summary>
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

/// <summary>Batches and their progress. Reads sum the batch's counter rows, not its requests.</summary>
public sealed class BatchStore(IDbContextFactory<JobsDbContext> contexts, TimeProvider time)
{
    /// <summary>The batch with this name, created if it does not exist yet (a re-import finds the same one).</summary>
    public async Task<long> GetOrCreateAsync(string name, string source, string? detail, decimal? creditBudget, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await GetOrCreateAsync(db, name, source, detail, creditBudget, cancellationToken);
    }

    /// <summary>As above, in the transaction open on <paramref name="db"/> (an import that is rolled back leaves no empty batch).</summary>
    public async Task<long> GetOrCreateAsync(JobsDbContext db, string name, string source, string? detail, decimal? creditBudget,
        CancellationToken cancellationToken) =>
        (await db.QueryAsync(Sql.GetOrCreate, r => r.GetInt64(r.GetOrdinal("id")), cancellationToken,
            new NpgsqlParameter("name", name), new NpgsqlParameter("source", source),
            new NpgsqlParameter("detail", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)detail ?? DBNull.Value },
            new NpgsqlParameter("budget", NpgsqlTypes.NpgsqlDbType.Numeric) { Value = (object?)creditBudget ?? DBNull.Value },
            new NpgsqlParameter("now", time.GetUtcNow()))).Single();

    public async Task<long?> FindAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Batches.Where(b => b.Name == name).Select(b => (long?)b.Id).SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>One batch's progress.</summary>
    public async Task<BatchProgress?> ProgressAsync(long id, CancellationToken cancellationToken)
    {
        var list = await Read(Sql.One, cancellationToken, new NpgsqlParameter("id", id));
        return list.Count == 0 ? null : list[0];
    }

    /// <summary>The newest batches first.</summary>
    public Task<IReadOnlyList<BatchProgress>> ListAsync(int limit, CancellationToken cancellationToken) =>
        Read(Sql.Newest, cancellationToken, new NpgsqlParameter("limit", limit));

    /// <summary>Marks every batch whose requests are all final as finished, with its summary. Returns those just finished.</summary>
    public async Task<IReadOnlyList<BatchProgress>> FinishCompletedAsync(CancellationToken cancellationToken)
    {
        var finished = new List<BatchProgress>();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        foreach (var batch in await Read(Sql.AllFinal, cancellationToken))
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
            var recorded = await db.ExecuteAsync(Sql.Finish, cancellationToken,
                new NpgsqlParameter("now", now), new NpgsqlParameter("summary", summary), new NpgsqlParameter("id", batch.Id));
            if (recorded == 1)
            {
                finished.Add(batch with { FinishedAt = now });
            }
        }

        return finished;
    }

    private async Task<IReadOnlyList<BatchProgress>> Read(string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.QueryAsync(sql, ReadProgress, cancellationToken, parameters);
    }

    private static BatchProgress ReadProgress(NpgsqlDataReader r)
    {
        return new BatchProgress(r.GetInt64(r.GetOrdinal("id")), r.GetString(r.GetOrdinal("name")), r.GetString(r.GetOrdinal("source")),
            r.GetStringOrNull("source_detail"), r.GetFieldValue<DateTimeOffset>(r.GetOrdinal("created_at")), r.GetValueOrNull<DateTimeOffset>("finished_at"),
            r.GetValueOrNull<decimal>("credit_budget"), JsonSerializer.Deserialize<Dictionary<string, long>>(r.GetString(r.GetOrdinal("counts")))!,
            r.GetDecimal(r.GetOrdinal("estimated_credits")), r.GetDecimal(r.GetOrdinal("credits_used")), r.GetValueOrNull<DateTimeOffset>("first_submitted_at"),
            r.GetValueOrNull<DateTimeOffset>("last_completed_at"));
    }

    /// <summary>
    /// Counts, credits and times come from the trigger-kept batch_counts (migrations 0004 and 0014): a few rows per
    /// batch, whatever its size and however busy the table.
    /// </summary>
    private static class Sql
    {
        public const string GetOrCreate = """
            with created as (
                insert into batches (name, source, source_detail, credit_budget, created_at)
                values (@name, @source, @detail, @budget, @now)
                on conflict (name) do nothing
                returning id
            )
            select id from created union all select id from batches where name = @name
            limit 1
            """;

        private const string Progress = """
            select b.id, b.name, b.source, b.source_detail, b.created_at, b.finished_at, b.credit_budget,
                   coalesce((select jsonb_object_agg(state, n) from (
                       select state, sum(count) n from batch_counts c where c.batch_id = b.id group by state having sum(count) <> 0) s),
                       jsonb_build_object())::text as counts,
                   t.estimated_credits, t.credits_used, t.first_submitted_at, t.last_completed_at
            from batches b
            cross join lateral (
                select coalesce(sum(estimated_credits), 0) as estimated_credits, coalesce(sum(credits_used), 0) as credits_used,
                       min(first_submitted_at) as first_submitted_at, max(last_completed_at) as last_completed_at
                from batch_counts c where c.batch_id = b.id) t

            """;

        public const string One = Progress + "where b.id = @id";

        public const string Newest = Progress + "order by b.id desc limit @limit";

        /// <summary>Open batches that have requests, all of them final: the batches to finish (their summary has the start).</summary>
        public const string AllFinal = Progress + """
            where b.finished_at is null
              and exists (select 1 from generation_requests r where r.batch_id = b.id)
              and not exists (select 1 from generation_requests r where r.batch_id = b.id and r.state in ('queued', 'submitting', 'running'))
            """;

        public const string Finish = "update batches set finished_at = @now, summary = @summary::jsonb where id = @id and finished_at is null";
    }
}
