using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aireiter.Simulator;

/// <summary>
/// The upstream's routes with its quirks: business errors as HTTP 200 with <c>statusCode</c> in the
/// envelope, an <c>ok: true</c> that is there even on failure, the official channel's other envelope,
/// and the marketing HTML page for any unknown route or method.
/// </summary>
public static class SimulatorEndpoints
{
    public const string HomePage = "<!DOCTYPE html><html><head><title>AIReiter - AI image and video generation</title></head>" +
                                   "<body><h1>AIReiter</h1><p>Create stunning images and videos with AI.</p></body></html>";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static IEndpointRouteBuilder MapSimulator(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/openapi/submit", Submit);
        app.MapPost("/api/openapi/query", Query);
        app.MapGet("/api/openapi/balance", Balance);
        app.MapGet("/outputs/{taskId}/{index:int}.png", Image);

        app.MapGet("/_sim/stats", (SimulatedUpstream upstream) => Results.Json(upstream.Stats(), Json));
        app.MapGet("/_sim/options", (SimulatedUpstream upstream) => Results.Json(upstream.Options, Json));
        app.MapPost("/_sim/options", (SimulatedUpstream upstream, SimulatorOptions options) =>
        {
            upstream.Options = options;
            return Results.Json(options, Json);
        });
        app.MapPost("/_sim/reset", (SimulatedUpstream upstream) =>
        {
            upstream.Reset();
            return Results.NoContent();
        });

        app.MapFallback(() => Results.Content(HomePage, "text/html; charset=utf-8"));
        return app;
    }

    private static async Task<IResult> Submit(HttpContext context, SimulatedUpstream upstream, CancellationToken cancellationToken)
    {
        var options = upstream.Options;
        if (await Fault(context, upstream, isQuery: false, cancellationToken) is { } fault)
        {
            return fault;
        }

        if (!Authorized(context, options))
        {
            return Envelope(401, "unauthorized: API key invalid or not sent");
        }

        var body = await ReadObject(context, cancellationToken);
        var outTaskId = Text(body, "out_task_id");
        var model = Text(body, "model");
        if (body is null || outTaskId is null || model is null || body["params"] is not JsonObject parameters)
        {
            return Envelope(400, "JSON structure error: check model, params, out_task_id");
        }

        upstream.CountSubmit(outTaskId);

        if (outTaskId.Length is 0 or > 64 || outTaskId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
        {
            return Envelope(400, "out_task_id must be 1-64 characters of A-Z, a-z, 0-9, _ and -");
        }

        var prompt = Text(parameters, "prompt") ?? "";
        if (options.SafetyWords.FirstOrDefault(w => prompt.Contains(w, StringComparison.OrdinalIgnoreCase)) is { } word)
        {
            return Envelope(400, $"prompt rejected by content safety review: sensitive word '{word}'");
        }

        if (model.StartsWith("gpt_image_2", StringComparison.Ordinal) && parameters.ContainsKey("size")
            && (parameters.ContainsKey("aspect_ratio") || parameters.ContainsKey("resolution")))
        {
            return Envelope(400, "size cannot be used together with aspect_ratio or resolution");
        }

        if (upstream.FindByOutTaskId(outTaskId) is { } existing)
        {
            switch (options.DuplicatePolicy)
            {
                case DuplicatePolicy.Reject:
                    return Envelope(400, "out_task_id already exists");
                case DuplicatePolicy.ReturnExisting:
                    return Accepted(existing, upstream.Time.GetUtcNow());
            }
        }

        var callback = Text(body, "callback_url") is { } url && Uri.TryCreate(url, UriKind.Absolute, out var parsed) ? parsed : null;
        var task = upstream.Accept(outTaskId, model, (JsonObject)parameters.DeepClone(), body["metadata"]?.DeepClone() as JsonObject, callback);
        if (task is null)
        {
            return Envelope(433, "not enough credits");
        }

        if (upstream.NextDouble() < options.Faults.DropAfterAcceptRate)
        {
            // Accepted and billed, and the caller never hears of it.
            context.Abort();
            return Results.Empty;
        }

        return Accepted(task, upstream.Time.GetUtcNow());
    }

    private static IResult Accepted(SimulatedTask task, DateTimeOffset now)
    {
        if (task.Model == "gpt_image_2_official")
        {
            // The official channel's documented envelope: `code`, and data as an array.
            return Results.Json(new JsonObject
            {
                ["code"] = 200,
                ["data"] = new JsonArray(new JsonObject
                {
                    ["status"] = "submitted",
                    ["task_id"] = task.TaskId,
                    ["out_task_id"] = task.OutTaskId,
                    ["estimated_credits"] = task.Cost,
                }),
            });
        }

        return Envelope(200, "", new JsonObject
        {
            ["task_id"] = task.TaskId,
            ["out_task_id"] = task.OutTaskId,
            ["status"] = task.StatusAt(now),
            ["estimated_credits"] = task.Cost,
            ["created_at"] = Iso(task.CreatedAt),
        });
    }

    private static async Task<IResult> Query(HttpContext context, SimulatedUpstream upstream, CancellationToken cancellationToken)
    {
        var body = await ReadObject(context, cancellationToken);
        if (Text(body, "out_task_id") is { } asked)
        {
            upstream.CountQueryRequest(asked);
        }

        if (await Fault(context, upstream, isQuery: true, cancellationToken) is { } fault)
        {
            return fault;
        }

        if (!Authorized(context, upstream.Options))
        {
            return Envelope(401, "unauthorized: API key invalid or not sent");
        }

        var outTaskId = Text(body, "out_task_id");
        var taskId = Text(body, "task_id");
        if (outTaskId is null && taskId is null)
        {
            return Envelope(400, "either task_id or out_task_id must be provided");
        }

        var task = outTaskId is not null ? upstream.FindByOutTaskId(outTaskId) : upstream.FindByTaskId(taskId!);
        upstream.CountQuery(outTaskId ?? task?.OutTaskId);
        if (task is null)
        {
            return Envelope(400, "api task not found");
        }

        return Envelope(200, "", Describe(task, upstream.Time.GetUtcNow(), BaseUrl(context)));
    }

    /// <summary>The query answer for a task, as the documentation's example shapes it.</summary>
    public static JsonObject Describe(SimulatedTask task, DateTimeOffset now, string baseUrl)
    {
        var status = task.StatusAt(now);
        var data = new JsonObject
        {
            ["task_id"] = task.TaskId,
            ["out_task_id"] = task.OutTaskId,
            ["status"] = status,
            ["created_at"] = Iso(task.CreatedAt),
            ["input"] = new JsonObject
            {
                ["model"] = task.Model,
                ["params"] = task.Params.DeepClone(),
                ["showPublic"] = 0,
                ["attachments"] = new JsonArray(),
            },
        };
        if (task.Metadata is not null)
        {
            data["metadata"] = task.Metadata.DeepClone();
        }

        switch (status)
        {
            case "completed":
                data["completed_at"] = Iso(task.FinishesAt);
                data["credits_used"] = task.Cost;
                data["output"] = new JsonArray(new JsonObject { ["url"] = $"{baseUrl}/outputs/{task.TaskId}/0.png" });
                break;
            case "failed":
                data["completed_at"] = Iso(task.FinishesAt);
                data["credits_used"] = 0;
                data["error"] = "generation failed: the model returned no image";
                break;
        }

        return data;
    }

    private static IResult Balance(HttpContext context, SimulatedUpstream upstream) =>
        !Authorized(context, upstream.Options)
            ? Envelope(401, "unauthorized: API key invalid or not sent")
            : Envelope(200, "", new JsonObject { ["credits"] = upstream.Options.Balance ?? 1_000_000_000m });

    private static IResult Image(string taskId, int index, SimulatedUpstream upstream) =>
        upstream.FindByTaskId(taskId) is null || index != 0 ? Results.NotFound()
        : upstream.NextDouble() < upstream.Options.Faults.ImageErrorRate ? Results.StatusCode(500)
        : Results.File(PngImages.For(taskId, index, upstream.Options.ImageSize), "image/png");

    private static async Task<IResult?> Fault(HttpContext context, SimulatedUpstream upstream, bool isQuery, CancellationToken cancellationToken)
    {
        upstream.CountRequest(isQuery);
        var faults = upstream.Options.Faults;
        if (faults.Latency > TimeSpan.Zero)
        {
            await Task.Delay(faults.Latency, upstream.Time, cancellationToken);
        }

        if (isQuery && !faults.AffectQueries)
        {
            return null;
        }

        if (upstream.NextDouble() < faults.HtmlRate)
        {
            return Results.Content(HomePage, "text/html; charset=utf-8");
        }

        if (upstream.NextDouble() < faults.ServerErrorRate)
        {
            return Results.Content("<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html", statusCode: 500);
        }

        if (upstream.NextDouble() < faults.RateLimitRate)
        {
            if (faults.RetryAfter is { } wait)
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            return Results.Json(new JsonObject { ["statusCode"] = 429, ["message"] = "Too Many Requests" }, statusCode: 429);
        }

        return null;
    }

    private static bool Authorized(HttpContext context, SimulatorOptions options) =>
        context.Request.Headers.Authorization.ToString() == $"Bearer {options.ApiKey}";

    private static IResult Envelope(int statusCode, string message, JsonNode? data = null) =>
        Results.Json(new JsonObject { ["ok"] = true, ["statusCode"] = statusCode, ["message"] = message, ["data"] = data });

    private static async Task<JsonObject?> ReadObject(HttpContext context, CancellationToken cancellationToken)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: cancellationToken) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Text(JsonObject? node, string name) =>
        node?[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string BaseUrl(HttpContext context) => $"{context.Request.Scheme}://{context.Request.Host}";
}
