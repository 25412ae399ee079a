using Aireiter.Jobs.AspNetCore.Upstream;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Schedules;
using Aireiter.Jobs.Submitting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>Why submitting is paused. A field it does not know is refused, whatever the host app's JSON settings say.</summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record PauseRequest(string? Message);

/// <summary>Schedules, the cluster's stats, the submit switch, and what this node is.</summary>
public static class OperationsApi
{
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder endpoints)
    {
        // Stats first: the API reference opens on its group.
        endpoints.MapGet("/api/stats", (OverviewQueries overview, CancellationToken ct) => overview.StatsAsync(ct))
            .WithTags("Stats").WithSummary("Counts per state, throughput per minute, credits vs budget, pauses, nodes.");
        var submitting = endpoints.MapGroup("/api/submitting").WithTags("Stats");
        submitting.MapPost("/resume", async (SubmitPauses pauses, CancellationToken ct) =>
            TypedResults.Ok(new { ended = await pauses.ResumeAllAsync(ct) })).WithSummary("End every pause: submitting resumes at once.");
        submitting.MapPost("/pause", async (PauseRequest? body, SubmitPauses pauses, CancellationToken ct) =>
        {
            await pauses.PauseAsync(PauseReasons.Operator, body?.Message ?? "Paused by an operator.", TimeSpan.FromDays(3650), "operator", ct);
            return TypedResults.Ok();
        }).WithSummary("Pause submitting for the whole cluster until resumed.");

        // What this node is: shown in the Generation pages' header, so a simulator left on is seen at once.
        endpoints.MapGet("/api/node", (UpstreamMode upstream, IOptions<ClusterOptions> cluster, EngineStatus status, IOptions<AccessOptions> options) => new
        {
            nodeId = cluster.Value.NodeId,
            simulated = upstream.Simulated,
            upstream = upstream.Simulated ? "simulator" : upstream.BaseUrl.Host,
            submitBlockedBy = status.SubmitBlockedBy,
            readOnly = options.Value.ReadOnly,
        }).WithTags("Stats").WithSummary("This node: its id, its upstream (the simulator or the API's host), what holds submits back.");

        var schedules = endpoints.MapGroup("/api/schedules").WithTags("Schedules");
        schedules.MapGet("", async (RecurringSchedules s, CancellationToken ct) => TypedResults.Ok(await s.ListAsync(ct)))
            .WithSummary("Configured schedules with next and last run, and whether they are paused.");
        schedules.MapPost("/{name}/run", (string name, RecurringSchedules s) => s.TriggerNow(name) ? Done() : NoSchedule(name))
            .WithSummary("Run a schedule now (one node's Hangfire worker takes it), paused or not.");
        schedules.MapPost("/{name}/pause", async (string name, RecurringSchedules s, CancellationToken ct) =>
                await s.PauseAsync(name, "api", ct) ? Done() : NoSchedule(name))
            .WithSummary("Pause a schedule until resumed, across restarts; \"run now\" still runs it.");
        schedules.MapPost("/{name}/resume", async (string name, RecurringSchedules s, CancellationToken ct) =>
                await s.ResumeAsync(name, ct) ? Done() : NoSchedule(name))
            .WithSummary("Resume a paused schedule from its next time; runs missed while paused are not made up.");
        return endpoints;
    }

    private static Results<Ok, ProblemHttpResult> Done() => TypedResults.Ok();

    private static Results<Ok, ProblemHttpResult> NoSchedule(string name) => ApiProblems.NotFound($"No schedule named '{name}'.");
}
