using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Cluster;

/// <summary>How this node takes part in the cluster (section <c>Cluster</c>).</summary>
public sealed class ClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>Unique per node; defaults to host name and process id. Also the name of this node's Hangfire server.</summary>
    public string NodeId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>How often a node records in <c>cluster_nodes</c> that it is alive, with its poll lateness since the last time.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// This node's id as configured, or the default: for what is wired before the options are bound and checked (the
    /// logger, telemetry), so logs and metrics name the node the dashboard and Hangfire show.
    /// </summary>
    public static string NodeIdFrom(Microsoft.Extensions.Configuration.IConfiguration configuration) =>
        configuration[$"{Section}:{nameof(NodeId)}"] is { Length: > 0 } id ? id : new ClusterOptions().NodeId;
}

public sealed class ClusterOptionsValidator : IValidateOptions<ClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.NodeId) || options.NodeId.Length > 200)
        {
            failures.Add($"Cluster:NodeId must be 1 to 200 characters (was '{options.NodeId}').");
        }

        if (options.HeartbeatInterval < TimeSpan.FromMilliseconds(500) || options.HeartbeatInterval > TimeSpan.FromMinutes(5))
        {
            failures.Add($"Cluster:HeartbeatInterval must be between 00:00:00.5 and 00:05:00 (was {options.HeartbeatInterval}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
