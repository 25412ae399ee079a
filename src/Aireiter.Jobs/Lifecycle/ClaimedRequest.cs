using System.Text.Json.Nodes;
using Aireiter.Jobs.Requests;

namespace Aireiter.Jobs.Lifecycle;

/// <summary>
/// A request this node holds under a lease, with what working it needs. <see cref="SentOutTaskId"/> is the
/// out_task_id the upstream knows the current task by (it differs from <see cref="OutTaskId"/> after a retry).
/// </summary>
public sealed record ClaimedRequest(
    long Id,
    string OutTaskId,
    string Model,
    RequestState State,
    int Attempts,
    DateTimeOffset? SubmittedAt,
    DateTimeOffset? DeadlineAt,
    DateTimeOffset? ReconcileUntil,
    decimal? EstimatedCredits,
    string SentOutTaskId)
{
    /// <summary>The request's batch, for logs and spans.</summary>
    public long? BatchId { get; init; }

    /// <summary>Loaded for submits only.</summary>
    public JsonObject? Params { get; init; }

    public JsonObject? Metadata { get; init; }

    /// <summary>When the row was due when it was claimed: for polls, how late the poll is measures from here.</summary>
    public DateTimeOffset DueAt { get; init; }

    /// <summary>For polls: when the task was last asked about (the answer's time), or null before its first poll.</summary>
    public DateTimeOffset? PolledAt { get; init; }

    /// <summary>When this node's lease on the row runs out unless it is renewed (<see cref="Cluster.LeaseKeeper"/>).</summary>
    public DateTimeOffset LeaseExpiresAt { get; init; }

    /// <summary>When the cluster's submit pacing lets this one be sent.</summary>
    public DateTimeOffset SendAt { get; init; }
}
