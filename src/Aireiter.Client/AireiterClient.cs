using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aireiter.Client.Protocol;
using Aireiter.Client.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Aireiter.Client;

/// <summary>
/// The typed client for <c>POST /api/openapi/submit</c> and <c>POST /api/openapi/query</c>. It never throws
/// for an upstream fault: every answer, time-out or broken connection comes back as an
/// <see cref="AireiterOutcome{T}"/> whose <see cref="OutcomeKind"/> the engine acts on.
/// </summary>
public sealed partial class AireiterClient(
    HttpClient http,
    AireiterResilience resilience,
    UpstreamMetrics metrics,
    IOptions<AireiterOptions> options,
    TimeProvider time,
    ILogger<AireiterClient> logger)
{
    public const string SubmitPath = "/api/openapi/submit";
    public const string QueryPath = "/api/openapi/query";

    public async Task<AireiterOutcome<SubmittedTask>> SubmitAsync(SubmitRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var lease = await resilience.SubmitLimiter.AcquireAsync(1, cancellationToken);

        var body = new JsonObject
        {
            ["model"] = request.Model,
            ["params"] = request.Params.DeepClone(),
            ["out_task_id"] = request.OutTaskId,
        };
        if (request.CallbackUrl is not null)
        {
            body["callback_url"] = request.CallbackUrl.ToString();
        }

        if (request.Metadata is not null)
        {
            body["metadata"] = request.Metadata.DeepClone();
        }

        var reply = await Call(CallKind.Submit, resilience.Submit, SubmitPath, body, cancellationToken);
        var outcome = new AireiterOutcome<SubmittedTask>(
            reply.Kind, reply.Kind == OutcomeKind.Accepted ? ReplyParsing.ToSubmittedTask(reply.Data!.Value) : null, reply.Message)
        {
            RetryAfter = reply.RetryAfter,
            HttpStatus = reply.HttpStatus,
            UpstreamCode = reply.UpstreamCode,
            CircuitOpen = reply.CircuitOpen,
        };
        LogSubmitted(request.OutTaskId, request.Model, outcome.Kind, outcome.Message);
        return outcome;
    }

    /// <summary>Asks about a task, retrying transient faults and 429s (with back-off) inside the call.</summary>
    public Task<AireiterOutcome<TaskSnapshot>> QueryByOutTaskIdAsync(string outTaskId, CancellationToken cancellationToken) =>
        Query(resilience.Query, "out_task_id", outTaskId, cancellationToken);

    public Task<AireiterOutcome<TaskSnapshot>> QueryByTaskIdAsync(string taskId, CancellationToken cancellationToken) =>
        Query(resilience.Query, "task_id", taskId, cancellationToken);

    /// <summary>
    /// One query and no retry inside: a poll. The upstream asks for one query every 3-5 s per task, so a poll
    /// without a clear answer is not repeated at once; it is due again at the next interval.
    /// </summary>
    public Task<AireiterOutcome<TaskSnapshot>> PollByOutTaskIdAsync(string outTaskId, CancellationToken cancellationToken) =>
        Query(resilience.Poll, "out_task_id", outTaskId, cancellationToken);

    private async Task<AireiterOutcome<TaskSnapshot>> Query(ResiliencePipeline<UpstreamReply> pipeline, string idField, string id,
        CancellationToken cancellationToken)
    {
        var reply = await Call(CallKind.Query, pipeline, QueryPath, new JsonObject { [idField] = id }, cancellationToken);
        var outcome = new AireiterOutcome<TaskSnapshot>(
            reply.Kind, reply.Kind == OutcomeKind.Accepted ? ReplyParsing.ToSnapshot(reply.Data!.Value) : null, reply.Message)
        {
            RetryAfter = reply.RetryAfter,
            HttpStatus = reply.HttpStatus,
            UpstreamCode = reply.UpstreamCode,
            CircuitOpen = reply.CircuitOpen,
        };
        LogQueried(id, outcome.Kind, outcome.Value?.RawStatus, outcome.Message);
        return outcome;
    }

    private async Task<UpstreamReply> Call(CallKind call, ResiliencePipeline<UpstreamReply> pipeline, string path, JsonObject body,
        CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var reply = await Run(call, pipeline, path, body, cancellationToken);
        metrics.Record(call == CallKind.Submit ? "submit" : "query", reply.Kind, time.GetElapsedTime(started));
        return reply;
    }

    private async Task<UpstreamReply> Run(CallKind call, ResiliencePipeline<UpstreamReply> pipeline, string path, JsonObject body,
        CancellationToken cancellationToken)
    {
        var unclear = call == CallKind.Submit ? OutcomeKind.Ambiguous : OutcomeKind.Transient;
        try
        {
            return await pipeline.ExecuteAsync(
                static async (state, token) => await state.Client.Attempt(state.Call, state.Path, state.Body, token),
                (Client: this, Call: call, Path: path, Body: body),
                cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            return new UpstreamReply(unclear, null, $"No answer within {options.Value.AttemptTimeout.TotalSeconds:0.#} s.");
        }
        catch (BrokenCircuitException ex)
        {
            // Nothing was sent: the breaker refused the call.
            return new UpstreamReply(OutcomeKind.Transient, null,
                $"Not sent: the upstream failed too often recently (circuit open{(ex.RetryAfter is { } wait ? $" for {wait.TotalSeconds:0.#} s" : "")}).")
            { RetryAfter = ex.RetryAfter, CircuitOpen = true };
        }
    }

    private async Task<UpstreamReply> Attempt(CallKind call, string path, JsonObject body, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(settings.BaseUrl, path))
        {
            Content = JsonContent.Create(body),
        };
        message.Headers.UserAgent.ParseAdd(settings.UserAgent);
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (!string.IsNullOrEmpty(settings.ApiKey))
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", settings.ApiKey);
        }

        try
        {
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            return UpstreamReply.Classify(call, (int)response.StatusCode, text, RetryAfter(response));
        }
        catch (HttpRequestException ex)
        {
            // Refused before anything was sent is a plain transient fault; after sending, a submit may have landed.
            var notSent = ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError;
            var kind = call == CallKind.Submit && !notSent ? OutcomeKind.Ambiguous : OutcomeKind.Transient;
            return new UpstreamReply(kind, null, $"{(notSent ? "Could not connect" : "The connection failed")}: {ex.Message}");
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Submit {OutTaskId} ({Model}): {Kind} {UpstreamMessage}")]
    private partial void LogSubmitted(string outTaskId, string model, OutcomeKind kind, string? upstreamMessage);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Query {OutTaskId}: {Kind} {UpstreamStatus} {UpstreamMessage}")]
    private partial void LogQueried(string outTaskId, OutcomeKind kind, string? upstreamStatus, string? upstreamMessage);
}
