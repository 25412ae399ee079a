using Aireiter.Jobs.Polling;

namespace Aireiter.Jobs.Cluster;

/// <summary>A worker process that announced itself; its heartbeat says whether it is still alive.</summary>
public sealed class ClusterNode
{
    public required string NodeId { get; set; }
    public required string HostName { get; set; }
    public int ProcessId { get; set; }
    public required string Version { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset HeartbeatAt { get; set; }
    public DateTimeOffset? StoppedAt { get; set; }

    /// <summary>Polls started in the last heartbeat interval, and how late they started (null: none).</summary>
    public int? PollsLastInterval { get; set; }
    public int? PollLatenessP50Ms { get; set; }
    public int? PollLatenessP99Ms { get; set; }
    public int? PollLatenessMaxMs { get; set; }

    /// <summary>The last interval's poll lateness as one figure, or null when the node polled nothing.</summary>
    public LatenessWindow? PollLateness => this is { PollsLastInterval: { } polls, PollLatenessP50Ms: { } p50, PollLatenessP99Ms: { } p99, PollLatenessMaxMs: { } max }
        ? new LatenessWindow(polls, p50, p99, max)
        : null;

    /// <summary>Not stopped, and beat within the last minute. Not stored: <see cref="Monitoring.OverviewQueries"/> sets it when it reads the node.</summary>
    public bool Alive { get; set; }
}
