using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Submitting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Aireiter.Jobs.AspNetCore.Health;

/// <summary>
/// Degraded while submitting is paused for the cluster (bad API key, no credits, an operator), with the reason;
/// otherwise healthy, saying what holds submits back right now, if anything (a limit).
/// </summary>
public sealed class SubmittingHealthCheck(SubmitPauses pauses, EngineStatus status) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var paused = await pauses.ListAsync(cancellationToken);
            if (paused.Count > 0)
            {
                return HealthCheckResult.Degraded("Submitting is PAUSED: " +
                    string.Join("; ", paused.Select(p => $"{p.Reason}: {p.Message} (since {p.PausedAt:u})")));
            }

            return HealthCheckResult.Healthy(status.SubmitBlockedBy is { } reason ? $"waiting: {reason}" : "submitting");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"Cannot read the submit state: {ex.Message}");
        }
    }
}
