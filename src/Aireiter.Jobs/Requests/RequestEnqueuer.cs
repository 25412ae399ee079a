using Aireiter.Client.Parameters;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Requests;

/// <summary>
/// Stores new requests as <c>Queued</c> after checking them against their model's rules. Invalid ones are
/// reported and not stored; a repeated out_task_id inserts nothing and says so. The API, the importer and
/// the schedules all enqueue through here. Creation writes no event row: a request's timeline starts at its
/// created_at, which keeps a 100,000-line import to one row per request.
/// </summary>
public sealed class RequestEnqueuer(NpgsqlDataSource dataSource, IOptionsMonitor<EngineOptions> engine, TimeProvider time)
{
    private const int ChunkSize = 2000;

    /// <summary>A request checked and given its out_task_id, ready to be stored.</summary>
    public sealed record Prepared(NewRequest Request, string OutTaskId, IReadOnlyList<ParameterProblem> Errors, IReadOnlyList<ParameterProblem> Warnings)
    {
        public bool IsValid => Errors.Count == 0;
    }

    /// <summary>Checks a request against its model's rules and decides its out_task_id; nothing is stored.</summary>
    /// <param name="scope">What derived ids are unique within (the batch name); null for none.</param>
    public Prepared Prepare(NewRequest request, string? scope)
    {
        var check = ModelRules.Check(request.Model, request.Params, engine.CurrentValue.MaxPromptLengthFor(request.Model ?? ""));
        var outTaskId = request.OutTaskId
                        ?? (string.IsNullOrEmpty(request.Key) ? OutTaskIds.NewRandom() : OutTaskIds.Derive(scope, request.Key));
        if (OutTaskIds.IsValid(outTaskId))
        {
            return new Prepared(request, outTaskId, check.Errors, check.Warnings);
        }

        var errors = check.Errors.Append(new ParameterProblem("out_task_id", $"'{outTaskId}' must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'."));
        return new Prepared(request, outTaskId, errors.ToList(), check.Warnings);
    }

    /// <param name="scope">What derived ids are unique within (the batch name); null for none.</param>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueAsync(IReadOnlyList<NewRequest> requests, string? scope, CancellationToken cancellationToken)
    {
        var prepared = requests.Select(r => Prepare(r, scope)).ToList();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var results = await InsertAsync(connection, transaction, prepared, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return results;
    }

    /// <summary>
    /// Stores the valid ones of <paramref name="prepared"/> in the caller's transaction (invalid ones are reported, not
    /// stored) and wakes the submitters when the transaction commits.
    /// </summary>
    public async Task<IReadOnlyList<EnqueueResult>> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        IReadOnlyList<Prepared> prepared, CancellationToken cancellationToken)
    {
        var results = new EnqueueResult[prepared.Count];
        var valid = new List<(int Index, Prepared Item)>();
        for (var i = 0; i < prepared.Count; i++)
        {
            if (prepared[i].IsValid)
            {
                valid.Add((i, prepared[i]));
            }
            else
            {
                results[i] = new EnqueueResult(i, EnqueueStatus.Invalid, prepared[i].OutTaskId, null, prepared[i].Errors, prepared[i].Warnings);
            }
        }

        var now = time.GetUtcNow();
        var inserted = 0;
        foreach (var chunk in valid.Chunk(ChunkSize))
        {
            var ids = await InsertChunk(connection, transaction, chunk.Select(c => (c.Item.Request, c.Item.OutTaskId)).ToList(), now, cancellationToken);
            foreach (var (index, item) in chunk)
            {
                // The first of several identical ids in one call is the one stored; the rest were already present.
                var stored = ids.Remove(item.OutTaskId, out var id);
                results[index] = new EnqueueResult(index, stored ? EnqueueStatus.Inserted : EnqueueStatus.AlreadyPresent, item.OutTaskId,
                    stored ? id : null, [], item.Warnings);
                inserted += stored ? 1 : 0;
            }
        }

        if (inserted > 0)
        {
            await using var notify = new NpgsqlCommand($"select pg_notify('{WakeSignals.SubmitChannel}', '')", connection, transaction);
            await notify.ExecuteNonQueryAsync(cancellationToken);
        }

        return results;
    }

    private static async Task<Dictionary<string, long>> InsertChunk(NpgsqlConnection connection, NpgsqlTransaction transaction,
        List<(NewRequest Request, string OutTaskId)> rows, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            with input as (
                select * from unnest(@ids, @batches, @keys, @models, @params, @metadata, @priorities, @not_before)
                    as t(out_task_id, batch_id, item_key, model, params, metadata, priority, not_before)
            ), inserted as (
                insert into generation_requests
                    (out_task_id, batch_id, item_key, model, params, metadata, priority, state, not_before, due_at, created_at, updated_at)
                select out_task_id, batch_id, item_key, model, params, metadata, priority, 'queued', not_before,
                       greatest(coalesce(not_before, @now), @now), @now, @now
                from input
                on conflict (out_task_id) do nothing
                returning id, out_task_id
            )
            select id, out_task_id from inserted
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Select(r => r.OutTaskId).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("batches", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = rows.Select(r => r.Request.BatchId).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Select(r => r.Request.Key).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("models", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rows.Select(r => r.Request.Model).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("params", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = rows.Select(r => r.Request.Params.ToJsonString()).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("metadata", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = rows.Select(r => r.Request.Metadata?.ToJsonString()).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("priorities", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = rows.Select(r => r.Request.Priority).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("not_before", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = rows.Select(r => r.Request.NotBefore).ToArray() });
        command.Parameters.AddWithValue("now", now);

        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids[reader.GetString(1)] = reader.GetInt64(0);
        }

        return ids;
    }
}
