namespace Aireiter.Jobs.Requests;

/// <summary>One state change of a request, kept so its timeline can be shown with the errors on the way.</summary>
public sealed class RequestEvent
{
    public long Id { get; set; }
    public long RequestId { get; set; }
    public DateTimeOffset At { get; set; }
    public RequestState? FromState { get; set; }
    public RequestState ToState { get; set; }
    public required string Reason { get; set; }
    public string? Detail { get; set; }
    public string? Node { get; set; }
}
