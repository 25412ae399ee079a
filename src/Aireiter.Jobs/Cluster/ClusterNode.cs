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
}
