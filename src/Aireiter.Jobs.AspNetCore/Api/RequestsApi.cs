using System.Text.Json;
using System.Text.Json.Nodes;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Requests;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>One request to create, as the API takes it (<see cref="CreateRequestReader"/>). With no outTaskId, one is derived from batch and key.</summary>
public sealed record CreateRequest(string? Model, JsonObject? Params, string? OutTaskId, string? Key, string? Batch, short Priority,
    DateTimeOffset? NotBefore, JsonObject? Metadata);

public sealed record CreatedRequest(int Index, string OutTaskId, string Status, long? Id, IReadOnlyList<string> Warnings);

public sealed record BulkRetry(int Retried);

public static class RequestsApi
{
    public static IEndpointRouteBuilder MapRequestsApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/requests").WithTags("Requests");
        api.MapPost("", Create).Accepts<CreateRequest>("application/json")
            .WithSummary("Create one request (an object) or many (an array of them); idempotent on outTaskId or batch + key.");
        api.MapGet("", List).WithSummary("List requests, newest first, filtered, one keyset page at a time.");
        api.MapGet("/{outTaskId}", Get).WithSummary("A request with its parameters, timeline, outputs, credits and error.");
        api.MapPost("/{outTaskId}/retry", Retry).WithSummary("Queue a failed or timed-out request again, as a fresh upstream task.");
        api.MapPost("/{outTaskId}/cancel", Cancel).WithSummary("Cancel a queued or running request.");
        api.MapGet("/{outTaskId}/outputs/{position:int}", Output).WithSummary("An output image: the stored copy when there is one, else the upstream URL.");
        api.MapPost("/retry", RetryAll).WithSummary("Queue every failed (and, with timedOut=true, timed-out) request again.");
        return endpoints;
    }

    private static async Task<Results<Accepted<IReadOnlyList<CreatedRequest>>, ValidationProblem, ProblemHttpResult>> Create(
        HttpRequest http, RequestEnqueuer enqueuer, CancellationToken cancellationToken)
    {
        var (body, refused) = await JsonBody.ReadAsync(http, cancellationToken);
        if (refused is not null)
        {
            return refused;
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
            return JsonBody.BadRequest("Send a request object or a non-empty array of them.");
        }

        var errors = new Dictionary<string, string[]>();
        var requests = new List<(int Index, CreateRequest Item, NewRequest Request)>();
        for (var i = 0; i < items.Count; i++)
        {
            if (CreateRequestReader.Read(items[i], many ? $"[{i}]." : "", errors) is not { } item)
            {
                continue;
            }

            requests.Add((i, item, new NewRequest(item.Model ?? "", item.Params ?? [])
            {
                OutTaskId = item.OutTaskId, Key = item.Key, Priority = item.Priority, NotBefore = item.NotBefore, Metadata = item.Metadata,
            }));
        }

        // Every item is checked before anything is stored: a request with one bad item stores nothing.
        var prepared = requests.Select(r => enqueuer.Prepare(r.Request, r.Item.Batch)).ToList();
        for (var i = 0; i < prepared.Count; i++)
        {
            var prefix = many ? $"[{requests[i].Index}]." : "";
            foreach (var error in prepared[i].Errors)
            {
                var field = error.Field switch { "model" => "model", "out_task_id" => "outTaskId", var other => $"params.{other}" };
                var key = $"{prefix}{field}";
                // A field the reader already refused (wrong type) is not reported a second time as missing.
                if (errors.ContainsKey(key) || (field.StartsWith("params.", StringComparison.Ordinal) && errors.ContainsKey($"{prefix}params")))
                {
                    continue;
                }

                errors[key] = [.. errors.GetValueOrDefault(key) ?? [], error.Message];
            }
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "Some requests are not valid; nothing was stored.");
        }

        // All of it in one transaction, the batches included: stored whole, or not at all.
        var results = await enqueuer.EnqueueInBatchesAsync(prepared.Select((p, i) => (p, requests[i].Item.Batch)).ToList(), "api", cancellationToken);
        var created = results.Select((r, i) => new CreatedRequest(i, r.OutTaskId!,
            r.Status == EnqueueStatus.Inserted ? "created" : "already_present", r.Id, r.Warnings.Select(w => w.ToString()).ToList())).ToList();

        return TypedResults.Accepted("/api/requests", (IReadOnlyList<CreatedRequest>)created);
    }

    private static async Task<Results<Ok<RequestPage>, ValidationProblem>> List(RequestQueries queries, string? state, string? model,
        string? batch, DateTimeOffset? from, DateTimeOffset? to, string? q, string? prompt, long? before, int? limit, CancellationToken cancellationToken)
    {
        if (state is not null && !RequestStates.StoredNames.Contains(state))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["state"] = [$"must be one of {string.Join(", ", RequestStates.StoredNames)}"] });
        }

        if (limit is < 1 or > RequestQueries.MaxPageSize)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = [$"must be between 1 and {RequestQueries.MaxPageSize}"] });
        }

        var filter = new RequestFilter { State = state, Model = model, Batch = batch, From = from, To = to, Text = q, Prompt = prompt };
        return TypedResults.Ok(await queries.ListAsync(filter, before, limit ?? 50, cancellationToken));
    }

    private static async Task<Results<Ok<RequestDetail>, ProblemHttpResult>> Get(string outTaskId, RequestQueries queries,
        CancellationToken cancellationToken) =>
        await queries.DetailAsync(outTaskId, cancellationToken) is { } detail
            ? TypedResults.Ok(detail)
            : ApiProblems.NotFound($"No request with outTaskId '{outTaskId}'.");

    private static async Task<Results<PhysicalFileHttpResult, RedirectHttpResult, ProblemHttpResult>> Output(string outTaskId, int position,
        RequestQueries queries, CancellationToken cancellationToken)
    {
        var detail = await queries.DetailAsync(outTaskId, cancellationToken);
        if (detail is null)
        {
            return ApiProblems.NotFound($"No request with outTaskId '{outTaskId}'.");
        }

        if (detail.Outputs.FirstOrDefault(o => o.Position == position) is not { } output)
        {
            return ApiProblems.NotFound($"Request '{outTaskId}' has no output {position} (it has {detail.Outputs.Count}).");
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
