using System.Text.Json.Nodes;

namespace Aireiter.Jobs.Requests;

/// <summary>A request this node holds under a lease, with what working it needs.</summary>
public sealed record ClaimedRequest(
    long Id,
    string OutTaskId,
    string Model,
    RequestState State,
    int Attempts,
    DateTimeOffset? SubmittedAt,
    DateTimeOffset? DeadlineAt,
    DateTimeOffset? ReconcileUntil,
    decimal? EstimatedCredits)
{
    /// <summary>Loaded for submits only.</summary>
    public JsonObject? Params { get; init; }

    public JsonObject? Metadata { get; init; }

    /// <summary>When the cluster's submit pacing lets this one be sent.</summary>
    public DateTimeOffset SendAt { get; init; }
}
