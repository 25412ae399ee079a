using System.Text.Json;
using System.Text.Json.Nodes;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Requests;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Aireiter.Jobs.Worker.Api;

/// <summary>One request to create, as the API takes it. With no out_task_id, one is derived from batch and key.</summary>
public sealed record CreateRequest(string? Model, JsonObject? Params, string? OutTaskId, string? Key, string? Batch, short Priority,
    DateTimeOffset? NotBefore, JsonObject? Metadata);

public sealed record CreatedRequest(int Index, string OutTaskId, string Status, long? Id, IReadOnlyList<string> Warnings);

public sealed record BulkRetry(int Retried);

public static class RequestsApi
{
    public static IEndpointRouteBuilder MapRequestsApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/requests").WithTags("Requests");
        api.MapPost("", Create).WithSummary("Create one request (an object) or many (an array); idempotent on out_task_id or batch + key.");
        api.MapGet("", List).WithSummary("List requests, newest first, filtered, one keyset page at a time.");
        api.MapGet("/{outTaskId}", Get).WithSummary("A request with its parameters, timeline, outputs, credits and error.");
        api.MapPost("/{outTaskId}/retry", Retry).WithSummary("Queue a failed or timed-out request again, as a fresh upstream task.");
        api.MapPost("/{outTaskId}/cancel", Cancel).WithSummary("Cancel a queued or running request.");
        api.MapGet("/{outTaskId}/outputs/{position:int}", Output).WithSummary("An output image: the stored copy when there is one, else the upstream URL.");
        api.MapPost("/retry", RetryAll).WithSummary("Queue every failed (and, with timedOut=true, timed-out) request again.");
        return endpoints;
    }

    private static async Task<Results<Accepted<IReadOnlyList<CreatedRequest>>, ValidationProblem, ProblemHttpResult>> Create(
        HttpRequest http, RequestEnqueuer enqueuer, BatchStore batches, CancellationToken cancellationToken)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(http.Body, cancellationToken: cancellationToken);
        }
        catch (JsonException ex)
        {
            return TypedResults.Problem($"The body is not valid JSON: {ex.Message}", statusCode: 400, title: "Bad request");
        }

        var many = body is JsonArray;
        var items = body switch
        {
            JsonArray array => array.ToList(),
            JsonObject single => [single],
            _ => [],
        };
        if (items.Count == 0)
        {
            return TypedResults.Problem("Send a request object or a non-empty array of them.", statusCode: 400, title: "Bad request");
        }

        var errors = new Dictionary<string, string[]>();
        var requests = new List<(CreateRequest Item, NewRequest Request)>();
        for (var i = 0; i < items.Count; i++)
        {
            var prefix = many ? $"[{i}]." : "";
            CreateRequest? item;
            try
            {
                item = items[i]?.Deserialize<CreateRequest>(JsonSerializerOptions.Web);
            }
            catch (JsonException ex)
            {
                errors[$"{prefix}body"] = [ex.Message];
                continue;
            }

            if (item is null)
            {
                errors[$"{prefix}body"] = ["must be an object"];
                continue;
            }

            requests.Add((item, new NewRequest(item.Model ?? "", item.Params ?? [])
            {
                OutTaskId = item.OutTaskId, Key = item.Key, Priority = item.Priority, NotBefore = item.NotBefore?.ToUniversalTime(), Metadata = item.Metadata,
            }));
        }

        // Every item is checked before anything is stored: a request with one bad item stores nothing.
        var prepared = requests.Select(r => RequestEnqueuer.Prepare(r.Request, r.Item.Batch)).ToList();
        for (var i = 0; i < prepared.Count; i++)
        {
            foreach (var error in prepared[i].Errors)
            {
                var field = error.Field is "model" or "out_task_id" ? error.Field : $"params.{error.Field}";
                var key = $"{(many ? $"[{i}]." : "")}{field}";
                errors[key] = [.. errors.GetValueOrDefault(key) ?? [], error.Message];
            }
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "Some requests are not valid; nothing was stored.");
        }

        var batchIds = new Dictionary<string, long>();
        foreach (var name in requests.Select(r => r.Item.Batch).OfType<string>().Distinct())
        {
            batchIds[name] = await batches.GetOrCreateAsync(name, "api", null, null, cancellationToken);
        }

        var grouped = requests.Select((r, i) => (Index: i, r.Item.Batch, Request: r.Request with { BatchId = r.Item.Batch is { } b ? batchIds[b] : null }))
            .GroupBy(r => r.Batch);
        var created = new List<CreatedRequest>();
        foreach (var group in grouped)
        {
            var results = await enqueuer.EnqueueAsync(group.Select(g => g.Request).ToList(), group.Key, cancellationToken);
            created.AddRange(group.Zip(results, (g, r) => new CreatedRequest(g.Index, r.OutTaskId!,
                r.Status == EnqueueStatus.Inserted ? "created" : "already_present", r.Id, r.Warnings.Select(w => w.ToString()).ToList())));
        }

        return TypedResults.Accepted("/api/requests", (IReadOnlyList<CreatedRequest>)created.OrderBy(c => c.Index).ToList());
    }

    private static async Task<Results<Ok<RequestPage>, ValidationProblem>> List(MonitoringQueries monitoring, string? state, string? model,
        string? batch, DateTimeOffset? from, DateTimeOffset? to, string? q, string? prompt, long? before, int? limit, CancellationToken cancellationToken)
    {
        string[] states = ["queued", "submitting", "running", "succeeded", "failed", "timed_out", "cancelled"];
        if (state is not null && !states.Contains(state))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["state"] = [$"must be one of {string.Join(", ", states)}"] });
        }

        if (limit is < 1 or > MonitoringQueries.MaxPageSize)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = [$"must be between 1 and {MonitoringQueries.MaxPageSize}"] });
        }

        var filter = new RequestFilter { State = state, Model = model, Batch = batch, From = from, To = to, Text = q, Prompt = prompt };
        return TypedResults.Ok(await monitoring.ListAsync(filter, before, limit ?? 50, cancellationToken));
    }

    private static async Task<Results<Ok<RequestDetail>, NotFound<ProblemDetails>>> Get(string outTaskId, MonitoringQueries monitoring,
        CancellationToken cancellationToken) =>
        await monitoring.DetailAsync(outTaskId, cancellationToken) is { } detail
            ? TypedResults.Ok(detail)
            : TypedResults.NotFound(new ProblemDetails { Title = "Not found", Detail = $"No request with out_task_id '{outTaskId}'.", Status = 404 });

    private static async Task<Results<PhysicalFileHttpResult, RedirectHttpResult, NotFound>> Output(string outTaskId, int position,
        MonitoringQueries monitoring, CancellationToken cancellationToken)
    {
        var output = (await monitoring.DetailAsync(outTaskId, cancellationToken))?.Outputs.FirstOrDefault(o => o.Position == position);
        if (output is null)
        {
            return TypedResults.NotFound();
        }

        return output is { DownloadState: "stored", StoredPath: { } path } && File.Exists(path)
            ? TypedResults.PhysicalFile(path, output.ContentType ?? "application/octet-stream")
            : TypedResults.Redirect(output.Url);
    }

    private static async Task<Results<Ok, ProblemHttpResult>> Retry(string outTaskId, OperatorActions actions, CancellationToken cancellationToken) =>
        await actions.RetryRequestAsync(outTaskId, cancellationToken)
            ? TypedResults.Ok()
            : TypedResults.Problem($"'{outTaskId}' is not a failed or timed-out request.", statusCode: 409, title: "Conflict");

    private static async Task<Results<Ok, ProblemHttpResult>> Cancel(string outTaskId, OperatorActions actions, CancellationToken cancellationToken) =>
        await actions.CancelRequestAsync(outTaskId, cancellationToken)
            ? TypedResults.Ok()
            : TypedResults.Problem($"'{outTaskId}' is not queued or running (or is being submitted right now).", statusCode: 409, title: "Conflict");

    private static async Task<Ok<BulkRetry>> RetryAll(OperatorActions actions, bool? timedOut, CancellationToken cancellationToken) =>
        TypedResults.Ok(new BulkRetry(await actions.RetryAllAsync(timedOut == true ? ["failed", "timed_out"] : ["failed"], cancellationToken)));
}
