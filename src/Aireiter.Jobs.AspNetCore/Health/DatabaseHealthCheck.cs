using Aireiter.Jobs.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Aireiter.Jobs.AspNetCore.Health;

/// <summary>Healthy when the database answers and its schema has been migrated.</summary>
public sealed class DatabaseHealthCheck([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("select count(*) from schema_migrations");
            var applied = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            return HealthCheckResult.Healthy($"{applied} migrations applied");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"The database cannot be used: {ex.Message}");
        }
    }
}
