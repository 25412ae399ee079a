using Aireiter.Jobs.Callbacks;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Callbacks;

/// <summary>
/// Where the upstream's callbacks land. A callback is only a hint: its payload is not read or trusted.
/// A correctly signed one makes the task due for a poll now; the poll then learns the truth.
/// </summary>
public static class CallbackEndpoints
{
    public static IEndpointRouteBuilder MapCallbacks(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost($"{CallbackSignature.RoutePrefix}/{{outTaskId}}", Handle).DisableAntiforgery().WithTags("Callbacks")
            .WithSummary("Where the upstream calls back: a signed hint that makes the task due for a poll now.");
        return endpoints;
    }

    private static async Task<IResult> Handle(string outTaskId, string? sig, IOptionsMonitor<EngineOptions> engine, RequestLifecycle lifecycle,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var secret = engine.CurrentValue.Callbacks.Secret;
        if (string.IsNullOrEmpty(secret) || !CallbackSignature.Verify(secret, outTaskId, sig))
        {
            return TypedResults.Problem("The callback signature is missing or wrong.", statusCode: StatusCodes.Status401Unauthorized);
        }

        await lifecycle.PollNowAsync(outTaskId, time.GetUtcNow(), cancellationToken);
        return TypedResults.Ok();
    }
}
