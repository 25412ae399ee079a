using System.Globalization;
using System.Text.Json;

namespace Aireiter.Client.Protocol;

/// <summary>Reads the typed content of an accepted reply, tolerating the shapes the upstream is known to use.</summary>
public static class ReplyParsing
{
    public static SubmittedTask ToSubmittedTask(JsonElement data) => new(
        UpstreamReply.Text(data, "out_task_id"),
        EmptyToNull(UpstreamReply.Text(data, "task_id")),
        UpstreamReply.Text(data, "status"),
        Decimal(data, "estimated_credits"),
        Time(data, "created_at"));

    public static TaskSnapshot ToSnapshot(JsonElement data)
    {
        var raw = UpstreamReply.Text(data, "status");
        return new TaskSnapshot(
            UpstreamReply.Text(data, "out_task_id"),
            EmptyToNull(UpstreamReply.Text(data, "task_id")),
            ParseStatus(raw),
            raw,
            Decimal(data, "credits_used"),
            OutputUrls(data),
            ErrorText(data),
            Time(data, "created_at"),
            Time(data, "completed_at"));
    }

    /// <summary>Only the four documented values mean something; anything else is not finished yet.</summary>
    public static UpstreamStatus ParseStatus(string? status) => status?.Trim().ToLowerInvariant() switch
    {
        "pending" => UpstreamStatus.Pending,
        "processing" => UpstreamStatus.Processing,
        "completed" => UpstreamStatus.Completed,
        "failed" => UpstreamStatus.Failed,
        _ => UpstreamStatus.Unknown,
    };

    private static List<string> OutputUrls(JsonElement data)
    {
        var urls = new List<string>();
        if (!data.TryGetProperty("output", out var output))
        {
            return urls;
        }

        IEnumerable<JsonElement> items = output.ValueKind == JsonValueKind.Array ? output.EnumerateArray() : [output];
        foreach (var item in items)
        {
            var url = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString(),
                JsonValueKind.Object => UpstreamReply.Text(item, "url"),
                _ => null,
            };
            if (!string.IsNullOrWhiteSpace(url))
            {
                urls.Add(url);
            }
        }

        return urls;
    }

    private static string? ErrorText(JsonElement data)
    {
        if (!data.TryGetProperty("error", out var error))
        {
            return null;
        }

        return error.ValueKind switch
        {
            JsonValueKind.String => EmptyToNull(error.GetString()),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            JsonValueKind.Object when UpstreamReply.Text(error, "message") is { } message => message,
            _ => error.GetRawText(),
        };
    }

    private static decimal? Decimal(JsonElement data, string name)
    {
        if (!data.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetDecimal(out var d) => d,
            JsonValueKind.String when decimal.TryParse(value.GetString(), NumberStyles.Number, CultureInfo.InvariantCulture, out var d) => d,
            _ => null,
        };
    }

    private static DateTimeOffset? Time(JsonElement data, string name) =>
        UpstreamReply.Text(data, name) is { } text &&
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : null;

    private static string? EmptyToNull(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
