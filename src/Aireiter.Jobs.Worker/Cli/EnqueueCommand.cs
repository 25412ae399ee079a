using System.CommandLine;
using System.Globalization;
using Aireiter.Jobs.Import;
using Aireiter.Jobs.Worker.Hosting;

namespace Aireiter.Jobs.Worker.Cli;

/// <summary><c>enqueue FILE</c>: imports a catalogue (CSV or JSONL) as one batch.</summary>
public static class EnqueueCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "A CSV or JSONL catalogue: key, prompt, model, aspect_ratio, resolution, size, quality, web_search, image_url…" };
        var batch = new Option<string?>("--batch") { Description = "Batch name (default: the file name without extension). Re-importing into the same batch adds nothing twice." };
        var model = new Option<string?>("--model") { Description = "Model for lines that name none, e.g. gpt_image_2." };
        var aspect = new Option<string?>("--aspect-ratio") { Description = "Aspect ratio for lines that give none, e.g. 1:1." };
        var resolution = new Option<string?>("--resolution") { Description = "Resolution for lines that give none, e.g. 2K." };
        var quality = new Option<string?>("--quality") { Description = "Quality for lines that give none (gpt_image_2_official)." };
        var size = new Option<string?>("--size") { Description = "Custom size WxH for lines that give none (gpt_image_2)." };
        var delimiter = new Option<string?>("--delimiter") { Description = "CSV delimiter when it is not a comma: ';', '|' or 'tab'." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Check every line and estimate credits; store nothing." };
        var strict = new Option<bool>("--strict") { Description = "Store nothing unless every line is valid." };
        var notBefore = new Option<string?>("--not-before") { Description = "Hold the requests until then, e.g. 2026-11-23T01:00+01:00." };
        var priority = new Option<short>("--priority") { Description = "Higher goes first (default 0)." };

        var command = new Command("enqueue", "Import a catalogue file as one batch of requests.")
        {
            file, batch, model, aspect, resolution, quality, size, delimiter, dryRun, strict, notBefore, priority,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) =>
        {
            var path = parse.GetValue(file)!;
            DateTimeOffset? hold = null;
            if (parse.GetValue(notBefore) is { } text)
            {
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var at))
                {
                    Console.Error.WriteLine($"--not-before '{text}' is not a date and time (e.g. 2026-11-23T01:00+01:00).");
                    return Task.FromResult(ExitCodes.FileRefused);
                }

                hold = at.ToUniversalTime();
            }

            if (!path.Exists)
            {
                Console.Error.WriteLine($"No such file: {path.FullName}");
                return Task.FromResult(ExitCodes.FileRefused);
            }

            var defaults = new Dictionary<string, string>();
            void Default(string column, string? value)
            {
                if (!string.IsNullOrWhiteSpace(value))
                {
                    defaults[column] = value;
                }
            }

            Default("model", parse.GetValue(model));
            Default("aspect_ratio", parse.GetValue(aspect));
            Default("resolution", parse.GetValue(resolution));
            Default("quality", parse.GetValue(quality));
            Default("size", parse.GetValue(size));

            var options = new ImportOptions
            {
                BatchName = parse.GetValue(batch) ?? Path.GetFileNameWithoutExtension(path.Name),
                Defaults = defaults,
                Delimiter = parse.GetValue(delimiter),
                DryRun = parse.GetValue(dryRun),
                Strict = parse.GetValue(strict),
                NotBefore = hold,
                Priority = parse.GetValue(priority),
            };

            return JobsHost.RunToolAsync(parse, async (services, token) =>
            {
                var report = await services.GetRequiredService<CatalogueImporter>().ImportFileAsync(path.FullName, options, token);
                Console.Write(report.ToText());
                if (report.FileError is not null)
                {
                    Console.Error.WriteLine($"Refused: {report.FileError}");
                    return ExitCodes.FileRefused;
                }

                if (report.InvalidCount > 0)
                {
                    Console.Error.WriteLine(report.RolledBack
                        ? $"{report.InvalidCount} invalid lines; nothing was stored (--strict)."
                        : $"{report.InvalidCount} invalid lines were left out; {report.Inserted} requests were added.");
                    return ExitCodes.SomeInvalid;
                }

                return ExitCodes.Ok;
            }, cancellationToken);
        });
        return command;
    }
}
