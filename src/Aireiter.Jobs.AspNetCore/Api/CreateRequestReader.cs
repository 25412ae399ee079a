using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>
/// Reads one item of <c>POST /api/requests</c> field by field. The API's JSON names are camelCase, exactly;
/// a field it does not know is an error that names it (a misspelt <c>outTaskId</c> once meant a second, paid
/// request instead of "already present"), and so is a value of the wrong type.
/// </summary>
public static partial class CreateRequestReader
{
    public const int MaxKeyLength = 500;
    public const int MaxBatchLength = 200;

    private static readonly string[] Fields = ["model", "params", "outTaskId", "key", "batch", "priority", "notBefore", "metadata"];

    /// <summary>
    /// The item as far as it can be read, with its problems added to <paramref name="errors"/> under <paramref name="prefix"/>
    /// (a field that cannot be read is left out, so the model's rules can still be checked); null when it is not an object.
    /// </summary>
    public static CreateRequest? Read(JsonNode? node, string prefix, Dictionary<string, string[]> errors)
    {
        if (node is not JsonObject item)
        {
            Add(errors, prefix.Length == 0 ? "body" : prefix.TrimEnd('.'), "must be a request object");
            return null;
        }

        foreach (var (name, _) in item.Where(p => !Fields.Contains(p.Key, StringComparer.Ordinal)))
        {
            var meant = Fields.FirstOrDefault(f => string.Equals(Loose(f), Loose(name), StringComparison.Ordinal));
            Add(errors, prefix + name, meant is not null
                ? $"is not a field; did you mean '{meant}'? The API's fields are camelCase: {string.Join(", ", Fields)}."
                : $"is not a field of a request (its fields: {string.Join(", ", Fields)}).");
        }

        var model = Text(item, "model", prefix, errors, maxLength: 64);
        var parameters = Object(item, "params", prefix, errors);
        var outTaskId = Text(item, "outTaskId", prefix, errors, maxLength: 64);
        var key = Text(item, "key", prefix, errors, MaxKeyLength);
        var batch = Text(item, "batch", prefix, errors, MaxBatchLength);
        var priority = Priority(item, prefix, errors);
        var notBefore = Time(item, "notBefore", prefix, errors);
        var metadata = Object(item, "metadata", prefix, errors);

        return new CreateRequest(model, parameters, outTaskId, key, batch, priority, notBefore, metadata);
    }

    private static string? Text(JsonObject item, string field, string prefix, Dictionary<string, string[]> errors, int maxLength)
    {
        if (item[field] is not { } node)
        {
            return null;
        }

        if (node.GetValueKind() != JsonValueKind.String)
        {
            Add(errors, prefix + field, $"must be text (was {Kind(node)})");
            return null;
        }

        var text = node.GetValue<string>();
        if (text.Trim().Length == 0)
        {
            Add(errors, prefix + field, "must not be empty (leave it out instead)");
            return null;
        }

        if (text.Length > maxLength)
        {
            Add(errors, prefix + field, $"is {text.Length:N0} characters; at most {maxLength:N0} are allowed");
            return null;
        }

        if (text.Any(char.IsControl))
        {
            Add(errors, prefix + field, "must not contain control characters (tabs, line breaks…)");
            return null;
        }

        return text;
    }

    private static JsonObject? Object(JsonObject item, string field, string prefix, Dictionary<string, string[]> errors)
    {
        switch (item[field])
        {
            case null:
                return null;
            case JsonObject value:
                return value;
            case var other:
                Add(errors, prefix + field, $"must be a JSON object (was {Kind(other)})");
                return null;
        }
    }

    private static short Priority(JsonObject item, string prefix, Dictionary<string, string[]> errors)
    {
        if (item["priority"] is not { } node)
        {
            return 0;
        }

        if (node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue<short>(out var priority))
        {
            return priority;
        }

        Add(errors, prefix + "priority", $"must be a whole number from {short.MinValue} to {short.MaxValue} (was {node.ToJsonString()})");
        return 0;
    }

    private static DateTimeOffset? Time(JsonObject item, string field, string prefix, Dictionary<string, string[]> errors)
    {
        if (item[field] is not { } node)
        {
            return null;
        }

        if (node.GetValueKind() == JsonValueKind.String && node.GetValue<string>() is var text && IsoTime().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return time.ToUniversalTime();
        }

        Add(errors, prefix + field, $"must be an ISO 8601 date and time with its offset, e.g. 2026-12-01T09:30:00Z (was {node.ToJsonString()})");
        return null;
    }

    private static void Add(Dictionary<string, string[]> errors, string key, string message) =>
        errors[key] = [.. errors.GetValueOrDefault(key) ?? [], message];

    private static string Kind(JsonNode node) => node.GetValueKind() switch
    {
        JsonValueKind.String => "text",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true/false",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    /// <summary>How a name compares when guessing what was meant: no case, no underscores or dashes.</summary>
    private static string Loose(string name) => name.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).ToUpperInvariant();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")]
    private static partial Regex IsoTime();
}
