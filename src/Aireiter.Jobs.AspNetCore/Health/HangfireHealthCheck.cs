using Aireiter.Jobs.BackgroundJobs;
using Aireiter.Jobs.Cluster;
using Hangfire;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Health;

/// <summary>
/// Healthy when Hangfire's storage answers and this node's Hangfire server has beaten recently; degraded while the
/// server has not announced itself (just started) or is silent; unhealthy when the storage cannot be read. The standalone
/// host names its server after the node; in an app that runs its own Hangfire server under another name, the freshest
/// server stands for it.
/// </summary>
public sealed class HangfireHealthCheck(JobStorage storage, IOptions<ClusterOptions> cluster, IOptions<HangfireOptions> hangfire,
    TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var node = cluster.Value.NodeId;
            var servers = storage.GetMonitoringApi().Servers();
            var server = servers.Where(s => s.Name.StartsWith(node + ":", StringComparison.Ordinal) || s.Name == node).MaxBy(s => s.Heartbeat)
                         ?? servers.MaxBy(s => s.Heartbeat);
            if (server?.Heartbeat is not { } beat)
            {
                return Task.FromResult(HealthCheckResult.Degraded($"This node's Hangfire server ({node}) has not announced itself yet."));
            }

            var silent = time.GetUtcNow().UtcDateTime - beat;
            return Task.FromResult(silent > hangfire.Value.HeartbeatInterval * 3
                ? HealthCheckResult.Degraded($"This node's Hangfire server has been silent for {silent:g}.")
                : HealthCheckResult.Healthy($"server {server.Name}, {server.WorkersCount} workers"));
        }
        catch (Exception ex)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"Hangfire's storage cannot be read: {ex.GetType().Name}"));
        }
    }
}
