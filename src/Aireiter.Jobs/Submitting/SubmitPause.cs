namespace Aireiter.Jobs.Submitting;

/// <summary>
/// A reason submitting is stopped for the whole cluster (bad API key, no credits left, an operator).
/// Requests stay queued while any pause stands.
/// </summary>
public sealed class SubmitPause
{
    public required string Reason { get; set; }
    public required string Message { get; set; }
    public DateTimeOffset PausedAt { get; set; }
    public DateTimeOffset? ProbeAt { get; set; }
    public string? PausedBy { get; set; }
}
