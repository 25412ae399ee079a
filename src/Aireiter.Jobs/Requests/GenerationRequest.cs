using System.Text.Json;

namespace Aireiter.Jobs.Requests;

/// <summary>One image generation: the row is the job, with its state, due time and lease.</summary>
public sealed class GenerationRequest
{
    public long Id { get; set; }
    public required string OutTaskId { get; set; }
    public long? BatchId { get; set; }
    public string? ItemKey { get; set; }
    public required string Model { get; set; }
    public required JsonDocument Params { get; set; }
    public JsonDocument? Metadata { get; set; }
    public short Priority { get; set; }
    public RequestState State { get; set; }
    public DateTimeOffset? NotBefore { get; set; }
    public DateTimeOffset? DueAt { get; set; }
    public string? LeaseOwner { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    public int Attempts { get; set; }
    public int Polls { get; set; }

    /// <summary>When the upstream last answered a poll about the task: no poll comes sooner than IntervalMin after it.</summary>
    public DateTimeOffset? PolledAt { get; set; }
    public string? UpstreamTaskId { get; set; }
    public decimal? EstimatedCredits { get; set; }
    public decimal? CreditsUsed { get; set; }
    public string? ErrorKind { get; set; }
    public string? ErrorMessage { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? SubmittedAt { get; set; }
    public DateTimeOffset? DeadlineAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public DateTimeOffset? ReconcileUntil { get; set; }
    public bool CompletedLate { get; set; }

    /// <summary>The id sent upstream for a retry (a fresh task); null while it is <see cref="OutTaskId"/>.</summary>
    public string? UpstreamOutTaskId { get; set; }

    public int Retries { get; set; }

    /// <summary>The id the upstream knows the current task by.</summary>
    public string SentOutTaskId => UpstreamOutTaskId ?? OutTaskId;

    public List<RequestOutput> Outputs { get; } = [];
    public List<RequestEvent> Events { get; } = [];
}
