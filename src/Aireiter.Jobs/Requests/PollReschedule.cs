namespace Aireiter.Jobs.Requests;

/// <summary>A held row to poll again at <see cref="DueAt"/>, still in <see cref="State"/>.</summary>
public sealed record PollReschedule(long Id, RequestState State, DateTimeOffset DueAt);
