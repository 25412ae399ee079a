using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aireiter.Jobs.Worker.Health;

/// <summary>
/// <c>/health/live</c>: the process answers. <c>/health/ready</c>: the database is migrated and reachable
/// and the scheduler runs, so this node can do work. Both answer JSON with one entry per check.
/// </summary>
public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapJobsHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = Write });
        endpoints.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(AspNetCore.Extensions.ReadyTag), ResponseWriter = Write });
        return endpoints;
    }

    private static Task Write(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.Select(e => new
            {
                name = e.Key,
                status = e.Value.Status.ToString(),
                description = e.Value.Description,
            }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}
