using System.Text.Json;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;

namespace Aireiter.Jobs.Monitoring;

public sealed record RequestSummary(long Id, string OutTaskId, string? Key, string? Batch, string Model, string State, string? Prompt,
    int Attempts, decimal? CreditsUsed, string? ErrorKind, string? ErrorMessage, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt, bool CompletedLate);

public sealed record OutputInfo(int Position, string Url, string DownloadState, string? ContentType, long? SizeBytes, string? Sha256,
    string? StoredPath, string? DownloadError);

public sealed record EventInfo(DateTimeOffset At, string? From, string To, string Reason, string? Detail, string? Node);

public sealed record RequestDetail(RequestSummary Request, JsonElement Params, JsonElement? Metadata, string? UpstreamOutTaskId,
    string? UpstreamTaskId, decimal? EstimatedCredits, DateTimeOffset? SubmittedAt, DateTimeOffset? DeadlineAt, DateTimeOffset? NotBefore,
    int Polls, int Retries, IReadOnlyList<OutputInfo> Outputs, IReadOnlyList<EventInfo> Events);

/// <summary>A filter for the request list; every field narrows it.</summary>
public sealed record RequestFilter
{
    /// <summary>A stored state name (<see cref="RequestStates.ToStorage"/>).</summary>
    public string? State { get; init; }
    public string? Model { get; init; }
    public string? Batch { get; init; }
    public DateTimeOffset? From { get; init; }
    public DateTimeOffset? To { get; init; }

    /// <summary>An exact out_task_id or key (indexed).</summary>
    public string? Text { get; init; }

    /// <summary>Words of the prompt. Not indexed: it scans until it has a page, so narrow it with the other filters.</summary>
    public string? Prompt { get; init; }
}

public sealed record RequestPage(IReadOnlyList<RequestSummary> Items, long? Next);

/// <summary>
/// Requests for the API and the dashboard: keyset pages (newest first, never OFFSET) with filters, and one request's
/// detail with its timeline and outputs. Typed LINQ over <see cref="JobsDbContext"/>, each query shaped for a table of
/// millions of rows (the dashboard benchmark measures every one at 1,000,000).
/// </summary>
public sealed class RequestQueries(IDbContextFactory<JobsDbContext> contexts)
{
    public const int MaxPageSize = 200;

    /// <summary>Newest first, <paramref name="limit"/> at a time; pass the previous page's <see cref="RequestPage.Next"/> as <paramref name="before"/>.</summary>
    public async Task<RequestPage> ListAsync(RequestFilter filter, long? before, int limit, CancellationToken cancellationToken)
    {
        limit = Math.Clamp(limit, 1, MaxPageSize);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var requests = db.Requests.AsNoTracking();
        if (before is { } id)
        {
            requests = requests.Where(r => r.Id < id);
        }

        if (filter.State is { } stored)
        {
            var state = RequestStates.FromStorage(stored);
            requests = requests.Where(r => r.State == state);
        }

        if (filter.Model is { } model)
        {
            requests = requests.Where(r => r.Model == model);
        }

        if (filter.Batch is { } batch)
        {
            requests = requests.Where(r => r.BatchId == db.Batches.Where(b => b.Name == batch).Select(b => (long?)b.Id).FirstOrDefault());
        }

        if (filter.From is { } from)
        {
            var since = from.ToUniversalTime();
            requests = requests.Where(r => r.CreatedAt >= since);
        }

        if (filter.To is { } to)
        {
            var until = to.ToUniversalTime();
            requests = requests.Where(r => r.CreatedAt < until);
        }

        if (!string.IsNullOrWhiteSpace(filter.Text))
        {
            // Two indexed lookups, not one OR the planner would have to scan for.
            var text = filter.Text.Trim();
            var matching = db.Requests.Where(x => x.OutTaskId == text).Select(x => x.Id)
                .Concat(db.Requests.Where(x => x.ItemKey == text).Select(x => x.Id));
            requests = requests.Where(r => matching.Contains(r.Id));
        }

        if (!string.IsNullOrWhiteSpace(filter.Prompt))
        {
            var like = "%" + filter.Prompt.Trim().Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";
            requests = requests.Where(r => EF.Functions.ILike(r.Params.RootElement.GetProperty("prompt").GetString()!, like, "\\"));
        }

        var items = await Summaries(db, requests.OrderByDescending(r => r.Id).Take(limit + 1)).ToListAsync(cancellationToken);
        return items.Count > limit ? new RequestPage(items[..limit], items[limit - 1].Id) : new RequestPage(items, null);
    }

    public async Task<RequestDetail?> DetailAsync(string outTaskId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // The whole row (the detail shows its parameters and metadata anyway) and its batch's name, in one query.
        var found = await db.Requests.AsNoTracking().Where(r => r.OutTaskId == outTaskId)
            .Select(r => new { Request = r, Batch = db.Batches.Where(b => b.Id == r.BatchId).Select(b => b.Name).FirstOrDefault() })
            .SingleOrDefaultAsync(cancellationToken);
        if (found is null)
        {
            return null;
        }

        var r = found.Request;
        var prompt = r.Params.RootElement.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        var summary = new RequestSummary(r.Id, r.OutTaskId, r.ItemKey, found.Batch, r.Model, r.State.ToStorage(), prompt, r.Attempts, r.CreditsUsed,
            r.ErrorKind, r.ErrorMessage, r.CreatedAt, r.UpdatedAt, r.CompletedAt, r.CompletedLate);
        var outputs = await db.Outputs.Where(o => o.RequestId == summary.Id).OrderBy(o => o.Position)
            .Select(o => new OutputInfo(o.Position, o.Url, o.DownloadState, o.ContentType, o.SizeBytes, o.Sha256, o.StoredPath, o.DownloadError))
            .ToListAsync(cancellationToken);
        var stored = await db.Events.Where(e => e.RequestId == summary.Id).OrderBy(e => e.Id).Take(500)
            .Select(e => new { e.At, e.FromState, e.ToState, e.Reason, e.Detail, e.Node })
            .ToListAsync(cancellationToken);

        // The timeline starts with the request's creation, which is not stored as an event.
        var events = new List<EventInfo>
        {
            new(summary.CreatedAt, null, "queued", "enqueued", r.NotBefore is { } nb ? $"held until {nb:u}" : null, null),
        };
        events.AddRange(stored.Select(e => new EventInfo(e.At, e.FromState?.ToStorage(), e.ToState.ToStorage(), e.Reason, e.Detail, e.Node)));
        using (r.Params)
        using (r.Metadata)
        {
            return new RequestDetail(summary, r.Params.RootElement.Clone(), r.Metadata?.RootElement.Clone(), r.UpstreamOutTaskId, r.UpstreamTaskId,
                r.EstimatedCredits, r.SubmittedAt, r.DeadlineAt, r.NotBefore, r.Polls, r.Retries, outputs, events);
        }
    }

    /// <summary>The list's columns: the batch's name by its key, the prompt out of the parameters, not the whole document.</summary>
    private static IQueryable<RequestSummary> Summaries(JobsDbContext db, IQueryable<GenerationRequest> requests) =>
        requests.Select(r => new RequestSummary(r.Id, r.OutTaskId, r.ItemKey,
            db.Batches.Where(b => b.Id == r.BatchId).Select(b => b.Name).FirstOrDefault(),
            r.Model, r.State.ToStorage(), r.Params.RootElement.GetProperty("prompt").GetString(), r.Attempts, r.CreditsUsed, r.ErrorKind,
            r.ErrorMessage, r.CreatedAt, r.UpdatedAt, r.CompletedAt, r.CompletedLate));
}
