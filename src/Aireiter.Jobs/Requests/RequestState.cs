namespace Aireiter.Jobs.Requests;

/// <summary>
/// Where a generation request is in its life. Our own names, not the upstream's status strings:
/// <c>Queued → Submitting → Running → Succeeded | Failed | TimedOut</c>, and <c>Cancelled</c>.
/// </summary>
public enum RequestState
{
    Queued,
    Submitting,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

public static class RequestStates
{
    /// <summary>Every state's stored name, in the order of the lifecycle.</summary>
    public static IReadOnlyList<string> StoredNames { get; } = [.. Enum.GetValues<RequestState>().Select(s => s.ToStorage())];

    /// <summary>The stored form of a state, as the schema's check constraint spells it.</summary>
    public static string ToStorage(this RequestState state) => state switch
    {
        RequestState.Queued => "queued",
        RequestState.Submitting => "submitting",
        RequestState.Running => "running",
        RequestState.Succeeded => "succeeded",
        RequestState.Failed => "failed",
        RequestState.TimedOut => "timed_out",
        RequestState.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown request state."),
    };

    public static RequestState FromStorage(string value) => value switch
    {
        "queued" => RequestState.Queued,
        "submitting" => RequestState.Submitting,
        "running" => RequestState.Running,
        "succeeded" => RequestState.Succeeded,
        "failed" => RequestState.Failed,
        "timed_out" => RequestState.TimedOut,
        "cancelled" => RequestState.Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "Unknown stored request state."),
    };
}
