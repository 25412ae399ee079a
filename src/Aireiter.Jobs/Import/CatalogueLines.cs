using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Aireiter.Jobs.Requests;

namespace Aireiter.Jobs.Import;

/// <summary>
/// Reads a catalogue's lines into requests, CSV or JSONL, one line at a time: defaults filled in, columns and fields
/// checked, and every line that cannot become a request reported on the <see cref="ImportReport"/> with its number and
/// reason. What to store, and in which transaction, is the <see cref="CatalogueImporter"/>'s.
/// </summary>
public static partial class CatalogueLines
{
    private static readonly string[] StandardColumns = ["key", "prompt", "model", "aspect_ratio", "resolution", "size", "quality", "web_search"];
    private static readonly char[] OtherSeparators = [';', '\t', '|'];
    private static readonly JsonDocumentOptions StrictJson = new() { AllowDuplicateProperties = false };

    public static async IAsyncEnumerable<(long Line, NewRequest Request)> ReadCsv(StreamReader reader, ImportOptions options, ImportReport report,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var separator = options.Delimiter is { } given ? Separator(given) : ',';
        string[]? header = null;
        Dictionary<string, int> columns = [];
        int[] images = [];
        KeyValuePair<string, int>[] extra = [];
        // Reading through the strict UTF-8 reader makes bytes that are not UTF-8 an error, not silent replacement characters.
        var records = new CsvRecords(reader, separator);
        await foreach (var record in records.ReadAsync(cancellationToken))
        {
            if (record.IsBlank)
            {
                report.BlankLines++;
                continue;
            }

            if (header is null)
            {
                if (record.Problem is not null)
                {
                    throw new ImportFileException($"The header line cannot be read: {record.Problem}.");
                }

                header = record.Fields.Select(h => h.Trim().ToLowerInvariant()).ToArray();
                records.ExpectedFields = header.Length;
                CheckHeader(header, options);
                columns = Columns(header);
                if (!header.Contains("key"))
                {
                    report.Notes.Add("There is no 'key' column: line numbers are used as keys, so re-importing an edited file may add requests twice.");
                }

                images = columns.Where(c => ImageColumn().IsMatch(c.Key)).OrderBy(c => c.Value).Select(c => c.Value).ToArray();
                extra = columns.Where(c => !StandardColumns.Contains(c.Key) && !ImageColumn().IsMatch(c.Key)).ToArray();
                continue;
            }

            var line = record.Line;
            report.Lines++;
            if (record.Problem is not null)
            {
                report.AddInvalid(new LineProblem(line, null, $"malformed CSV ({record.Problem})"));
                continue;
            }

            var fields = record.Fields;
            if (fields.Count != header.Length)
            {
                report.AddInvalid(new LineProblem(line, null,
                    $"{fields.Count} fields, but the header has {header.Length} (an unquoted '{separator}' in a value, or a missing one?)"));
                continue;
            }

            string? Cell(string column) => columns.TryGetValue(column, out var i) && fields[i] is { Length: > 0 } value ? value : null;
            var references = images.Select(i => fields[i]).Where(v => v.Length > 0).Select(v => (JsonNode?)JsonValue.Create(v)).ToList();
            var metadata = new JsonObject();
            foreach (var (name, index) in extra)
            {
                if (fields[index] is { Length: > 0 } value)
                {
                    metadata[name] = value;
                }
            }

            var built = Build(line, Cell, references, metadata, options, report);
            if (built is not null)
            {
                yield return (line, built);
            }
        }

        if (header is null)
        {
            throw new ImportFileException("The file is empty: a header line (key,prompt,model,…) and at least one line are needed.");
        }

        if (report.Lines == 0)
        {
            throw new ImportFileException("The file has a header but no lines to import: at least one line under the header is needed.");
        }
    }

    private static char Separator(string given) => given.ToLowerInvariant() switch
    {
        "tab" or "\\t" or "\t" => '\t',
        _ when given.Length == 1 && given[0] < 128 => given[0],
        _ => throw new ImportFileException($"--delimiter '{given}' must be one ASCII character (or 'tab')."),
    };

    public static async IAsyncEnumerable<(long Line, NewRequest Request)> ReadJsonl(StreamReader reader, ImportOptions options, ImportReport report,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long line = 0;
        var sawAny = false;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                report.BlankLines++;
                continue;
            }

            sawAny = true;
            report.Lines++;
            JsonObject? item;
            try
            {
                item = JsonNode.Parse(text, documentOptions: StrictJson) as JsonObject;
            }
            catch (JsonException ex)
            {
                report.AddInvalid(new LineProblem(line, null, $"not valid JSON: {ex.Message.Split(" Path:")[0]}"));
                continue;
            }

            if (item is null)
            {
                report.AddInvalid(new LineProblem(line, null, "each line must be one JSON object"));
                continue;
            }

            string? Cell(string field) => item[field] switch
            {
                null => null,
                JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>() is { Length: > 0 } s ? s : null,
                JsonValue v => v.ToJsonString(),
                var other => other.ToJsonString(),
            };

            var images = item["image_url"] switch
            {
                JsonArray array => array.Select(n => n?.DeepClone()).ToList(),
                JsonValue v => [v.DeepClone()],
                _ => [],
            };
            var metadata = new JsonObject();
            foreach (var (name, value) in item.Where(p => !StandardColumns.Contains(p.Key) && p.Key != "image_url"))
            {
                metadata[name] = value?.DeepClone();
            }

            var built = Build(line, Cell, images, metadata, options, report);
            if (built is not null)
            {
                yield return (line, built);
            }
        }

        if (!sawAny)
        {
            throw new ImportFileException("The file is empty: one JSON object per line is needed.");
        }
    }

    /// <summary>A request from one line's values, with the defaults filled in; null (and reported) when it cannot be built.</summary>
    private static NewRequest? Build(long line, Func<string, string?> cell, List<JsonNode?> images, JsonObject metadata,
        ImportOptions options, ImportReport report)
    {
        string? Value(string column) => cell(column) ?? options.Defaults.GetValueOrDefault(column);

        var model = Value("model");
        if (model is null)
        {
            report.AddInvalid(new LineProblem(line, "model", "no model on the line and no default (--model) given"));
            return null;
        }

        var parameters = new JsonObject();
        if (cell("prompt") is { } prompt)
        {
            parameters["prompt"] = prompt;
        }

        // A line that gives its own size takes no default aspect ratio or resolution (the two do not mix).
        var ownSize = cell("size");
        foreach (var column in new[] { "aspect_ratio", "resolution", "size", "quality" })
        {
            var value = ownSize is not null && column is "aspect_ratio" or "resolution" ? cell(column) : Value(column);
            if (value is not null)
            {
                parameters[column] = value;
            }
        }

        if (Value("web_search") is { } webSearch)
        {
            if (!TryBool(webSearch, out var flag))
            {
                report.AddInvalid(new LineProblem(line, "web_search", $"'{webSearch}' is not true or false"));
                return null;
            }

            parameters["web_search"] = flag;
        }

        if (images.Count > 0)
        {
            parameters["image_url"] = new JsonArray(images.ToArray());
        }

        var key = cell("key");
        return new NewRequest(model, parameters)
        {
            Key = key ?? $"line-{line}",
            Metadata = metadata.Count > 0 ? metadata : null,
            NotBefore = options.NotBefore,
            Priority = options.Priority,
        };
    }

    private static void CheckHeader(string[] header, ImportOptions options)
    {
        if (header.Length == 1 && options.Delimiter is null)
        {
            var other = OtherSeparators.FirstOrDefault(d => header[0].Contains(d, StringComparison.Ordinal));
            if (other != default)
            {
                var shown = other == '\t' ? "tab" : $"'{other}'";
                throw new ImportFileException(
                    $"The header is one column ('{Excerpt(header[0])}'): the file looks {shown}-separated. " +
                    $"Save it with commas, or pass --delimiter {(other == '\t' ? "tab" : other.ToString())}.");
            }
        }

        if (!header.Contains("prompt"))
        {
            throw new ImportFileException(
                $"The file has no 'prompt' column (columns: {string.Join(", ", header.Select(h => Excerpt(h)))}). " +
                "Every line needs a prompt; the expected columns are key, prompt, model, aspect_ratio, resolution, size, quality, web_search, image_url.");
        }
    }

    private static Dictionary<string, int> Columns(string[] header)
    {
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Length; i++)
        {
            // Several image_url columns are allowed; keep them apart.
            var name = header[i] == "image_url" && columns.ContainsKey("image_url") ? $"image_url_{i}" : header[i];
            columns.TryAdd(name, i);
        }

        return columns;
    }

    private static bool TryBool(string text, out bool value)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "1" or "y":
                value = true;
                return true;
            case "false" or "no" or "0" or "n":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    private static string Excerpt(string text) => text.Length <= 60 ? text : text[..60] + "…";

    [GeneratedRegex("^image_url(_?[0-9]+)?$")]
    private static partial Regex ImageColumn();
}
