using Aireiter.Client.Parameters;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Engine;
using Microsoft.Extensions.Options;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;

namespace Aireiter.Jobs.Requests;

/// <summary>
/// Stores new requests as <c>Queued</c> after checking them against their model's rules. Invalid ones are
/// reported and not stored; a repeated out_task_id inserts nothing and says so. The API, the importer and
/// the schedules all enqueue through here. Creation writes no event row: a request's timeline starts at its
/// created_at, which keeps a 100,000-line import to one row per request.
/// </summary>
public sealed class RequestEnqueuer(IDbContextFactory<JobsDbContext> contexts, BatchStore batches, IOptionsMonitor<EngineOptions> engine,
    TimeProvider time)
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
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var results = await InsertAsync(db, prepared, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return results;
    }

    /// <summary>
    /// Stores checked requests, each in the batch named beside it (created if new, with <paramref name="source"/>), all
    /// in one transaction: stored whole, or not at all.
    /// </summary>
    public async Task<IReadOnlyList<EnqueueResult>> EnqueueInBatchesAsync(IReadOnlyList<(Prepared Item, string? Batch)> requests, string source,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var batchIds = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in requests.Select(r => r.Batch).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            batchIds[name] = await batches.GetOrCreateAsync(db, name, source, null, null, cancellationToken);
        }

        var ready = requests.Select(r => r.Item with
        {
            Request = r.Item.Request with { BatchId = r.Batch is { } batch ? batchIds[batch] : null },
        }).ToList();
        var results = await InsertAsync(db, ready, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return results;
    }

    /// <summary>
    /// Stores the valid ones of <paramref name="prepared"/> in the transaction open on <paramref name="db"/> (invalid ones
    /// are reported, not stored) and wakes the submitters when it commits.
    /// </summary>
    public async Task<IReadOnlyList<EnqueueResult>> InsertAsync(JobsDbContext db, IReadOnlyList<Prepared> prepared, CancellationToken cancellationToken)
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
            var ids = await RequestLifecycle.InsertQueuedAsync(db, chunk.Select(c => (c.Item.Request, c.Item.OutTaskId)).ToList(), now, cancellationToken);
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
            await RequestLifecycle.WakeSubmittersAsync(db, cancellationToken);
        }

        return results;
    }
}
