namespace Aireiter.Client.Protocol;

/// <summary>
/// The small closed set every upstream answer is sorted into, so the engine can act on it without
/// reading messages. The upstream's own message always travels with it.
/// </summary>
public enum OutcomeKind
{
    /// <summary>Submit: the task was created. Query: the task was found (see its status).</summary>
    Accepted,

    /// <summary>Query: the upstream has no task with that id ("api task not found").</summary>
    NotFound,

    /// <summary>The request itself is wrong (validation, malformed body, size with aspect_ratio…). Permanent.</summary>
    InvalidRequest,

    /// <summary>The prompt or images were refused by the upstream's content review. Permanent.</summary>
    ContentRejected,

    /// <summary>The API key is missing or wrong. Account-wide: stop submitting.</summary>
    Unauthorized,

    /// <summary>The account has no credits left (statusCode 433). Account-wide: stop submitting.</summary>
    InsufficientCredits,

    /// <summary>HTTP 429: slow down, after <c>Retry-After</c> when given.</summary>
    RateLimited,

    /// <summary>Nothing was done upstream and trying again later may work (network, 5xx on a query, HTML, bad JSON, open circuit).</summary>
    Transient,

    /// <summary>
    /// Submit only: the body may have reached the upstream but no usable answer came back
    /// (time-out, dropped connection, 5xx or garbage after sending). The task may exist and be billed:
    /// query by out_task_id before ever submitting again.
    /// </summary>
    Ambiguous,
}

/// <summary>A classified answer with the upstream's message and, when it parsed, its typed content.</summary>
public sealed record AireiterOutcome<T>(OutcomeKind Kind, T? Value, string? Message)
    where T : class
{
    /// <summary>How long the upstream asked us to wait (from <c>Retry-After</c>), when it said.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public int? HttpStatus { get; init; }

    /// <summary>The envelope's <c>statusCode</c> (or <c>code</c>), when there was one.</summary>
    public int? UpstreamCode { get; init; }

    /// <summary>
    /// Not sent at all: the circuit breaker is open because the upstream kept failing. Not the request's
    /// fault, so it should not count against its attempts; <see cref="RetryAfter"/> says when the circuit may close.
    /// </summary>
    public bool CircuitOpen { get; init; }

    public override string ToString() =>
        $"{Kind}{(HttpStatus is { } h ? $" HTTP {h}" : "")}{(UpstreamCode is { } c ? $" code {c}" : "")}: {Message}";
}
