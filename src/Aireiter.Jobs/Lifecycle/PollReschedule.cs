using Aireiter.Jobs.Requests;

namespace Aireiter.Jobs.Lifecycle;

/// <summary>
/// A held row to poll again at <see cref="DueAt"/>, still in <see cref="State"/>; <see cref="PolledAt"/> is when
/// the upstream last answered about it (what the next poll is held back from), or null if it was never asked.
/// </summary>
public sealed record PollReschedule(long Id, RequestState State, DateTimeOffset DueAt, DateTimeOffset? PolledAt);
