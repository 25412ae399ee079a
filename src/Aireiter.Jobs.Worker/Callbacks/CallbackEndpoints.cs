using Aireiter.Jobs.Callbacks;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Worker.Callbacks;

/// <summary>
/// Where the upstream's callbacks land. A callback is only a hint: its payload is not read or trusted.
/// A correctly signed one makes the task due for a poll now; the poll then learns the truth.
/// </summary>
public static class CallbackEndpoints
{
    public static IEndpointRouteBuilder MapCallbacks(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost($"{CallbackSignature.RoutePrefix}/{{outTaskId}}", Handle).DisableAntiforgery();
        return endpoints;
    }

    private static async Task<IResult> Handle(string outTaskId, string? sig, IOptionsMonitor<EngineOptions> engine,
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken cancellationToken)
    {
        var secret = engine.CurrentValue.Callbacks.Secret;
        if (string.IsNullOrEmpty(secret) || !CallbackSignature.Verify(secret, outTaskId, sig))
        {
            return TypedResults.Problem("The callback signature is missing or wrong.", statusCode: StatusCodes.Status401Unauthorized);
        }

        await using var command = dataSource.CreateCommand($"""
            with due as (
                update generation_requests set due_at = @now
                where (out_task_id = @id or upstream_out_task_id = @id) and state = 'running' and lease_owner is null and due_at > @now
                returning id
            )
            select pg_notify('{WakeSignals.PollChannel}', ''), (select count(*) from due)
            """);
        command.Parameters.AddWithValue("id", outTaskId);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
        return TypedResults.Ok();
    }
}
