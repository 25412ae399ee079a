using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Import;

/// <summary>
/// Imports a catalogue file (CSV or JSONL) as one batch. It streams the file, so memory stays flat at any
/// size; a bad line is reported with its number, column and reason and never sinks the good ones (unless
/// strict); re-importing the same file inserts nothing new, because each out_task_id is derived from the
/// batch name and the line's key. The whole file is stored in one transaction: all of it, or nothing.
/// </summary>
public sealed partial class CatalogueImporter(
    NpgsqlDataSource dataSource,
    RequestEnqueuer enqueuer,
    BatchStore batches,
    IOptionsMonitor<EngineOptions> engine,
    ILogger<CatalogueImporter> logger)
{
    private const int ChunkSize = 2000;

    private static readonly string[] StandardColumns = ["key", "prompt", "model", "aspect_ratio", "resolution", "size", "quality", "web_search"];
    private static readonly char[] OtherSeparators = [';', '\t', '|'];
    private static readonly JsonDocumentOptions StrictJson = new() { AllowDuplicateProperties = false };
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public async Task<ImportReport> ImportFileAsync(string path, ImportOptions options, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return await ImportAsync(stream, Path.GetFileName(path), options, cancellationToken);
    }

    public async Task<ImportReport> ImportAsync(Stream stream, string fileName, ImportOptions options, CancellationToken cancellationToken)
    {
        var report = new ImportReport { File = fileName, BatchName = options.BatchName, DryRun = options.DryRun, Strict = options.Strict };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var format = options.Format != ImportFormat.Auto ? options.Format
            : fileName.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || fileName.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase)
                ? ImportFormat.Jsonl
                : ImportFormat.Csv;

        NpgsqlConnection? connection = null;
        NpgsqlTransaction? transaction = null;
        try
        {
            if (!options.DryRun)
            {
                connection = await dataSource.OpenConnectionAsync(cancellationToken);
                transaction = await connection.BeginTransactionAsync(cancellationToken);
                report.BatchId = await batches.GetOrCreateAsync(connection, transaction, options.BatchName, options.BatchSource, fileName,
                    options.BatchCreditBudget, cancellationToken);
            }

            using var reader = new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
            var lines = format == ImportFormat.Jsonl ? ReadJsonl(reader, options, report, cancellationToken) : ReadCsv(reader, options, report, cancellationToken);
            var chunk = new List<(long Line, RequestEnqueuer.Prepared Item)>(ChunkSize);
            // One chunk is stored while the next is read and checked: the database and the parser work at once.
            var storing = Task.CompletedTask;
            await foreach (var (line, parsed) in lines)
            {
                var request = parsed with { BatchId = report.BatchId };
                var prepared = enqueuer.Prepare(request, options.BatchName);
                foreach (var warning in prepared.Warnings.Take(5))
                {
                    if (report.Warnings.Count < ImportReport.MaxProblemsKept)
                    {
                        report.Warnings.Add(new LineProblem(line, warning.Field, warning.Message));
                    }
                }

                if (!prepared.IsValid)
                {
                    foreach (var error in prepared.Errors)
                    {
                        report.AddInvalid(new LineProblem(line, error.Field, error.Message));
                    }

                    continue;
                }

                report.Valid++;
                var resolution = request.Params["resolution"]?.GetValue<string>();
                var key = $"{request.Model} {resolution ?? request.Params["size"]?.GetValue<string>() ?? "(default)"}";
                var (count, credits) = report.PerModel.GetValueOrDefault(key);
                report.PerModel[key] = (count + 1, credits + engine.CurrentValue.Limits.EstimateFor(request.Model, resolution));

                if (transaction is not null)
                {
                    chunk.Add((line, prepared));
                    if (chunk.Count == ChunkSize)
                    {
                        await storing;
                        storing = Store(connection!, transaction, chunk, report, cancellationToken);
                        chunk = new List<(long Line, RequestEnqueuer.Prepared Item)>(ChunkSize);
                    }
                }
            }

            await storing;
            if (transaction is not null)
            {
                await Store(connection!, transaction, chunk, report, cancellationToken);
                if (options.Strict && report.InvalidCount > 0)
                {
                    await transaction.RollbackAsync(cancellationToken);
                    report.RolledBack = true;
                    report.Inserted = 0;
                    report.AlreadyPresent = 0;
                    report.BatchId = null;
                }
                else
                {
                    await transaction.CommitAsync(cancellationToken);
                }
            }
        }
        catch (ImportFileException ex)
        {
            report.FileError = ex.Message;
        }
        catch (DecoderFallbackException ex)
        {
            report.FileError = $"The file is not valid UTF-8 (near line {report.Lines + 1}: {ex.Message.Split('.')[0]}). Save it as UTF-8 and import it again.";
        }
        finally
        {
            if (report.FileError is not null)
            {
                report.RolledBack = !options.DryRun;
                report.Inserted = 0;
                report.AlreadyPresent = 0;
                report.BatchId = null;
            }

            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }

            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }

        report.Elapsed = clock.Elapsed;
        LogImported(fileName, options.BatchName, report.Lines, report.Inserted, report.AlreadyPresent, report.InvalidCount, report.FileError);
        return report;
    }

    private async Task Store(NpgsqlConnection connection, NpgsqlTransaction transaction, List<(long Line, RequestEnqueuer.Prepared Item)> chunk,
        ImportReport report, CancellationToken cancellationToken)
    {
        if (chunk.Count == 0)
        {
            return;
        }

        var results = await enqueuer.InsertAsync(connection, transaction, chunk.Select(c => c.Item).ToList(), cancellationToken);
        report.Inserted += results.Count(r => r.Status == EnqueueStatus.Inserted);
        report.AlreadyPresent += results.Count(r => r.Status == EnqueueStatus.AlreadyPresent);
    }

    private static async IAsyncEnumerable<(long Line, NewRequest Request)> ReadCsv(StreamReader reader, ImportOptions options, ImportReport report,
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

    private async IAsyncEnumerable<(long Line, NewRequest Request)> ReadJsonl(StreamReader reader, ImportOptions options, ImportReport report,
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

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Imported {File} into {Batch}: {Lines} lines, {Inserted} new, {AlreadyPresent} already present, {Invalid} invalid {FileError}")]
    private partial void LogImported(string file, string batch, long lines, long inserted, long alreadyPresent, long invalid, string? fileError);
}
