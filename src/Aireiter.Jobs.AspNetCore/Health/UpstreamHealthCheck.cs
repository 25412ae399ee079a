using Aireiter.Jobs.AspNetCore.Upstream;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aireiter.Jobs.AspNetCore.Health;

/// <summary>Says which upstream this node uses, so a simulator left on in production is seen at once.</summary>
public sealed class UpstreamHealthCheck(UpstreamMode mode) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(HealthCheckResult.Healthy(mode.Simulated
            ? $"SIMULATOR at {mode.BaseUrl} (Aireiter:ApiKey is not set)"
            : $"Aireiter API at {mode.BaseUrl}"));
}
