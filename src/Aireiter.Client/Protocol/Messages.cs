using System.Text.Json.Nodes;

namespace Aireiter.Client.Protocol;

/// <summary>The body of <c>POST /api/openapi/submit</c>.</summary>
public sealed record SubmitRequest(string Model, JsonObject Params, string OutTaskId)
{
    /// <summary>Only for models that document it; the upstream's callback is a hint, never trusted.</summary>
    public Uri? CallbackUrl { get; init; }

    public JsonObject? Metadata { get; init; }
}

/// <summary>What the upstream said about a task it accepted.</summary>
public sealed record SubmittedTask(string? OutTaskId, string? TaskId, string? Status, decimal? EstimatedCredits, DateTimeOffset? CreatedAt);

/// <summary>The upstream's status, parsed leniently: anything it does not document is <see cref="Unknown"/> and not final.</summary>
public enum UpstreamStatus
{
    Unknown,
    Pending,
    Processing,
    Completed,
    Failed,
}

/// <summary>One answer of <c>POST /api/openapi/query</c>.</summary>
public sealed record TaskSnapshot(
    string? OutTaskId,
    string? TaskId,
    UpstreamStatus Status,
    string? RawStatus,
    decimal? CreditsUsed,
    IReadOnlyList<string> OutputUrls,
    string? Error,
    DateTimeOffset? CreatedAt,
    DateTimeOffset? CompletedAt)
{
    public bool IsFinished => Status is UpstreamStatus.Completed or UpstreamStatus.Failed;
}
