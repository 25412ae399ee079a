using System.Globalization;
using System.Text.Json;

namespace Aireiter.Client.Protocol;

/// <summary>Which call an answer belongs to: the same fault means different things for each.</summary>
public enum CallKind
{
    Submit,
    Query,
}

/// <summary>One HTTP answer, classified, with the envelope's <c>data</c> (object form) kept for typed parsing.</summary>
public sealed record UpstreamReply(OutcomeKind Kind, JsonElement? Data, string? Message)
{
    public TimeSpan? RetryAfter { get; init; }
    public int? HttpStatus { get; init; }
    public int? UpstreamCode { get; init; }

    /// <summary>The call was not made: the circuit breaker is open after too many upstream failures.</summary>
    public bool CircuitOpen { get; init; }

    /// <summary>
    /// Sorts an answer into an <see cref="OutcomeKind"/>. Business errors arrive as HTTP 200 with the
    /// envelope's <c>statusCode</c> (or <c>code</c>) set; both shapes of envelope are read; a body that is
    /// not JSON (the upstream answers unknown routes with its HTML home page) is never success.
    /// On a submit, any failure after the body was sent that is not a clear refusal is <see cref="OutcomeKind.Ambiguous"/>.
    /// </summary>
    public static UpstreamReply Classify(CallKind call, int httpStatus, string body, TimeSpan? retryAfter)
    {
        var unclear = call == CallKind.Submit ? OutcomeKind.Ambiguous : OutcomeKind.Transient;

        if (httpStatus == 429)
        {
            return new UpstreamReply(OutcomeKind.RateLimited, null, MessageOf(body) ?? "HTTP 429 Too Many Requests")
            { RetryAfter = retryAfter, HttpStatus = httpStatus };
        }

        if (httpStatus is 401 or 403)
        {
            return new UpstreamReply(OutcomeKind.Unauthorized, null, MessageOf(body) ?? $"HTTP {httpStatus}: the API key was refused")
            { HttpStatus = httpStatus };
        }

        if (httpStatus >= 500)
        {
            return new UpstreamReply(unclear, null, $"HTTP {httpStatus}: {MessageOf(body) ?? Excerpt(body)}") { HttpStatus = httpStatus };
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return new UpstreamReply(unclear, null, $"The upstream answered HTTP {httpStatus} with a body that is not JSON: {Excerpt(body)}")
            { HttpStatus = httpStatus };
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return new UpstreamReply(unclear, null, $"The upstream answered HTTP {httpStatus} with JSON that is not an envelope: {Excerpt(body)}")
                { HttpStatus = httpStatus };
            }

            var code = Number(root, "statusCode") ?? Number(root, "code");
            var message = Text(root, "message") ?? Text(root, "msg") ?? Text(root, "error");
            var data = DataObject(root);
            var effective = code ?? httpStatus;

            var reply = Sort(call, effective, message, data, unclear);
            return reply with { HttpStatus = httpStatus, UpstreamCode = code, RetryAfter = reply.Kind == OutcomeKind.RateLimited ? retryAfter : null };
        }
    }

    private static UpstreamReply Sort(CallKind call, int code, string? message, JsonElement? data, OutcomeKind unclear)
    {
        var text = message ?? "";
        if (code is 200 or 0 && data is not null)
        {
            return new UpstreamReply(OutcomeKind.Accepted, data, message);
        }

        if (code is 200 or 0)
        {
            return new UpstreamReply(unclear, null, $"The upstream reported success without data{(message is { Length: > 0 } ? $": {message}" : ".")}");
        }

        if (code == 433 || Contains(text, "not enough credits", "insufficient credit", "insufficient balance"))
        {
            return new UpstreamReply(OutcomeKind.InsufficientCredits, null, Or(message, "not enough credits"));
        }

        if (code is 401 or 403)
        {
            return new UpstreamReply(OutcomeKind.Unauthorized, null, Or(message, "the API key was refused"));
        }

        if (code == 429)
        {
            return new UpstreamReply(OutcomeKind.RateLimited, null, Or(message, "rate limited"));
        }

        // Content review before the key words below: a refusal may well say "forbidden content".
        if (Contains(text, "sensitive", "safety", "content review", "moderation", "violat", "prohibited", "inappropriate"))
        {
            return new UpstreamReply(OutcomeKind.ContentRejected, null, message);
        }

        if (Contains(text, "unauthorized", "api key invalid", "invalid api key", "api key not"))
        {
            return new UpstreamReply(OutcomeKind.Unauthorized, null, message);
        }

        if (call == CallKind.Query && Contains(text, "not found", "not exist"))
        {
            return new UpstreamReply(OutcomeKind.NotFound, null, Or(message, "task not found"));
        }

        if (Contains(text, "too many requests", "rate limit"))
        {
            return new UpstreamReply(OutcomeKind.RateLimited, null, message);
        }

        if (code is >= 400 and < 500)
        {
            return new UpstreamReply(OutcomeKind.InvalidRequest, null, Or(message, $"the upstream refused the request (code {code})"));
        }

        return new UpstreamReply(unclear, null, $"The upstream answered code {code}: {Or(message, "no message")}");
    }

    /// <summary><c>data</c> as an object: itself, or the first element of the official channel's array form.</summary>
    private static JsonElement? DataObject(JsonElement root)
    {
        if (!root.TryGetProperty("data", out var data))
        {
            return null;
        }

        return data.ValueKind switch
        {
            JsonValueKind.Object => data.Clone(),
            JsonValueKind.Array when data.GetArrayLength() > 0 && data[0].ValueKind == JsonValueKind.Object => data[0].Clone(),
            _ => null,
        };
    }

    internal static int? Number(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt32(out var n) => n,
            JsonValueKind.String when int.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        };
    }

    internal static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? MessageOf(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? Text(document.RootElement, "message") ?? Text(document.RootElement, "error")
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool Contains(string text, params string[] needles) =>
        needles.Any(n => text.Contains(n, StringComparison.OrdinalIgnoreCase));

    private static string Or(string? message, string fallback) => string.IsNullOrWhiteSpace(message) ? fallback : message;

    internal static string Excerpt(string body)
    {
        var flat = string.Join(' ', body.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return flat.Length <= 120 ? flat : flat[..120] + "…";
    }
}
