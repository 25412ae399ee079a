using Aireiter.Client.Parameters;
using Aireiter.Jobs.Cluster;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Requests;

/// <summary>
/// Stores new requests as <c>Queued</c> after checking them against their model's rules. Invalid ones are
/// reported and not stored; a repeated out_task_id inserts nothing and says so. The API, the importer and
/// the schedules all enqueue through here.
/// </summary>
public sealed class RequestEnqueuer(NpgsqlDataSource dataSource, TimeProvider time, IOptions<ClusterOptions> cluster)
{
    private const int ChunkSize = 2000;

    /// <param name="scope">What derived ids are unique within (the batch name); null for none.</param>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueAsync(IReadOnlyList<NewRequest> requests, string? scope, CancellationToken cancellationToken)
    {
        var results = new EnqueueResult?[requests.Count];
        var valid = new List<(int Index, NewRequest Request, string OutTaskId, IReadOnlyList<ParameterProblem> Warnings)>();
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            var check = ModelRules.Check(request.Model, request.Params);
            var errors = check.Errors.ToList();
            var outTaskId = request.OutTaskId
                            ?? (string.IsNullOrEmpty(request.Key) ? OutTaskIds.NewRandom() : OutTaskIds.Derive(scope, request.Key));
            if (!OutTaskIds.IsValid(outTaskId))
            {
                errors.Add(new ParameterProblem("out_task_id", $"'{outTaskId}' must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'."));
            }

            if (errors.Count > 0)
            {
                results[i] = new EnqueueResult(i, EnqueueStatus.Invalid, outTaskId, null, errors, check.Warnings);
            }
            else
            {
                valid.Add((i, request, outTaskId, check.Warnings));
            }
        }

        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = 0;
        foreach (var chunk in valid.Chunk(ChunkSize))
        {
            var ids = await InsertChunk(connection, transaction, chunk.Select(c => (c.Request, c.OutTaskId)).ToList(), now, cancellationToken);
            foreach (var (index, _, outTaskId, warnings) in chunk)
            {
                // The first of several identical ids in one call is the one stored; the rest were already present.
                var stored = ids.Remove(outTaskId, out var id);
                results[index] = new EnqueueResult(index, stored ? EnqueueStatus.Inserted : EnqueueStatus.AlreadyPresent, outTaskId,
                    stored ? id : null, [], warnings);
                inserted += stored ? 1 : 0;
            }
        }

        if (inserted > 0)
        {
            await using var notify = new NpgsqlCommand($"select pg_notify('{WakeSignals.SubmitChannel}', '')", connection, transaction);
            await notify.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return results!;
    }

    private async Task<Dictionary<string, long>> InsertChunk(NpgsqlConnection connection, NpgsqlTransaction transaction,
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
            ), events as (
                insert into request_events (request_id, at, from_state, to_state, reason, node)
                select id, @now, null, 'queued', 'enqueued', @node from inserted
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
        command.Parameters.AddWithValue("node", cluster.Value.NodeId);

        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids[reader.GetString(1)] = reader.GetInt64(0);
        }

        return ids;
    }
}
