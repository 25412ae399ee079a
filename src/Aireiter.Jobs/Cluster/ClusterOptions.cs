using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Cluster;

/// <summary>How this node takes part in the cluster (section <c>Cluster</c>).</summary>
public sealed class ClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>Unique per node; defaults to host name and process id.</summary>
    public string NodeId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>The scheduler's name: the same on every node of one cluster.</summary>
    public string SchedulerName { get; set; } = "aireiter-jobs";

    /// <summary>How often a node records in <c>cluster_nodes</c> that it is alive, with its poll lateness since the last time.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often a node checks in with Quartz's clustered store. Each check-in is a transaction of three statements,
    /// so at 5 s it was a third of an idle node's database load; Quartz only runs the schedules and retention.
    /// </summary>
    public TimeSpan CheckinInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a node silent to Quartz is given before its Quartz work (a schedule's run) is recovered elsewhere.</summary>
    public TimeSpan CheckinMisfireThreshold { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Threads for Quartz jobs (schedules and housekeeping); submitting and polling do not use them.</summary>
    public int SchedulerThreads { get; set; } = 4;
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

        if (options.CheckinInterval < TimeSpan.FromMilliseconds(500) || options.CheckinInterval > TimeSpan.FromMinutes(5))
        {
            failures.Add($"Cluster:CheckinInterval must be between 00:00:00.5 and 00:05:00 (was {options.CheckinInterval}).");
        }

        if (options.CheckinMisfireThreshold < options.CheckinInterval)
        {
            failures.Add($"Cluster:CheckinMisfireThreshold must be at least Cluster:CheckinInterval ({options.CheckinInterval}) (was {options.CheckinMisfireThreshold}).");
        }

        if (options.SchedulerThreads is < 1 or > 64)
        {
            failures.Add($"Cluster:SchedulerThreads must be between 1 and 64 (was {options.SchedulerThreads}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
