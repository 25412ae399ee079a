using System.CommandLine;
using System.Globalization;
using System.Text;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Worker.Hosting;
using Npgsql;
using Spectre.Console;

namespace Aireiter.Jobs.Worker.Cli;

/// <summary><c>status</c>, <c>export</c>, <c>retry</c> and <c>cancel</c>: what a catalogue team does with a batch.</summary>
public static class BatchCommands
{
    public static Command Status()
    {
        var batch = new Argument<string?>("batch") { Description = "A batch name; all recent batches when left out.", Arity = ArgumentArity.ZeroOrOne };
        var watch = new Option<bool>("--watch") { Description = "Keep a live progress bar until the batch is finished (Ctrl+C to stop watching)." };
        var command = new Command("status", "Show progress: counts per state, credits, rate and ETA.") { batch, watch };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => JobsHost.RunToolAsync(parse, async (services, token) =>
        {
            var batches = services.GetRequiredService<BatchStore>();
            var name = parse.GetValue(batch);
            if (name is null)
            {
                ShowList(await batches.ListAsync(20, token));
                return ExitCodes.Ok;
            }

            if (await batches.FindAsync(name, token) is not { } id)
            {
                Console.Error.WriteLine($"No batch named '{name}'.");
                return ExitCodes.NotFound;
            }

            if (!parse.GetValue(watch))
            {
                ShowOne((await batches.ProgressAsync(id, token))!);
                return ExitCodes.Ok;
            }

            await Watch(batches, id, token);
            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    public static Command Export()
    {
        var batch = new Argument<string>("batch") { Description = "The batch to export." };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the CSV here instead of to standard output." };
        var command = new Command("export", "Write a batch's results as CSV: key, out_task_id, state, output URLs, stored files, credits, error.") { batch, output };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => OnBatch(parse, parse.GetValue(batch)!, async (services, id, token) =>
        {
            var file = parse.GetValue(output);
            await using var stream = file is null ? Console.OpenStandardOutput() : file.Create();
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false));
            var rows = await services.GetRequiredService<ResultsCsv>().WriteAsync(id, writer, token);
            if (file is not null)
            {
                Console.WriteLine($"Wrote {rows} rows to {file.FullName}");
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    public static Command Retry()
    {
        var batch = new Argument<string>("batch") { Description = "The batch whose requests to retry." };
        var failed = new Option<bool>("--failed") { Description = "Retry failed requests." };
        var timedOut = new Option<bool>("--timed-out") { Description = "Retry timed-out requests." };
        var command = new Command("retry", "Queue a batch's failed and/or timed-out requests again (both when neither is given). Each gets a fresh upstream task.")
        {
            batch, failed, timedOut,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => OnBatch(parse, parse.GetValue(batch)!, async (services, id, token) =>
        {
            var name = parse.GetValue(batch)!;
            var states = new List<string>();
            if (parse.GetValue(failed))
            {
                states.Add("failed");
            }

            if (parse.GetValue(timedOut))
            {
                states.Add("timed_out");
            }

            if (states.Count == 0)
            {
                states.AddRange(["failed", "timed_out"]);
            }

            var count = await services.GetRequiredService<OperatorActions>().RetryBatchAsync(id, states, token);
            Console.WriteLine($"Queued {count} requests of '{name}' again ({string.Join(" and ", states)}).");
            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    public static Command Cancel()
    {
        var batch = new Argument<string>("batch") { Description = "The batch to cancel." };
        var command = new Command("cancel", "Cancel a batch: queued requests are never sent; running ones stop being polled (the upstream may still bill them).") { batch };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => OnBatch(parse, parse.GetValue(batch)!, async (services, id, token) =>
        {
            var name = parse.GetValue(batch)!;
            var (queued, running) = await services.GetRequiredService<OperatorActions>().CancelBatchAsync(id, token);
            Console.WriteLine($"Cancelled {queued} queued and {running} running requests of '{name}'." +
                              (running > 0 ? " The upstream has no cancel: running tasks may still finish and be billed." : ""));
            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    /// <summary>Runs <paramref name="body"/> on the named batch, or says there is none (exit code 4).</summary>
    private static Task<int> OnBatch(ParseResult parse, string name, Func<IServiceProvider, long, CancellationToken, Task<int>> body,
        CancellationToken cancellationToken) =>
        JobsHost.RunToolAsync(parse, async (services, token) =>
        {
            if (await services.GetRequiredService<BatchStore>().FindAsync(name, token) is not { } id)
            {
                Console.Error.WriteLine($"No batch named '{name}'.");
                return ExitCodes.NotFound;
            }

            return await body(services, id, token);
        }, cancellationToken);

    private static void ShowList(IReadOnlyList<BatchProgress> batches)
    {
        if (batches.Count == 0)
        {
            AnsiConsole.MarkupLine("No batches yet. Import one with [bold]enqueue FILE[/].");
            return;
        }

        var table = new Table().AddColumns("Batch", "Total", "Queued", "Running", "OK", "Failed", "T/out", "Credits", "Finished");
        foreach (var b in batches)
        {
            table.AddRow(Markup.Escape(b.Name), N(b.Total), N(b.Count("queued")), N(b.Count("running") + b.Count("submitting")),
                N(b.Count("succeeded")), N(b.Count("failed")), N(b.Count("timed_out")),
                b.CreditsUsed.ToString("0.##", CultureInfo.InvariantCulture), b.FinishedAt is { } at ? at.ToString("MM-dd HH:mm", CultureInfo.InvariantCulture) : "");
        }

        AnsiConsole.Write(table);
    }

    private static void ShowOne(BatchProgress b)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(b.Name)}[/] ({b.Source}{(b.SourceDetail is null ? "" : ": " + Markup.Escape(b.SourceDetail))})");
        AnsiConsole.MarkupLine(Line(b));
        AnsiConsole.MarkupLine(b.FinishedAt is { } at ? $"Finished {at:u}" : b.IsFinished ? "All requests final." : "In progress.");
    }

    private static string Line(BatchProgress b) =>
        $"{b.Final}/{b.Total} final: {b.Count("succeeded")} succeeded, {b.Count("failed")} failed, {b.Count("timed_out")} timed out, " +
        $"{b.Count("cancelled")} cancelled; {b.Count("queued")} queued, {b.Count("submitting") + b.Count("running")} running; " +
        $"credits {b.CreditsUsed.ToString("0.##", CultureInfo.InvariantCulture)} used, {b.EstimatedCredits.ToString("0.##", CultureInfo.InvariantCulture)} estimated";

    private static async Task Watch(BatchStore batches, long id, CancellationToken cancellationToken)
    {
        var first = (await batches.ProgressAsync(id, cancellationToken))!;
        var started = DateTimeOffset.UtcNow;
        var startFinal = first.Final;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(first.Name), maxValue: Math.Max(1, first.Total));
                while (!cancellationToken.IsCancellationRequested)
                {
                    var b = (await batches.ProgressAsync(id, cancellationToken))!;
                    var elapsed = (DateTimeOffset.UtcNow - started).TotalMinutes;
                    var rate = elapsed > 0 ? (b.Final - startFinal) / elapsed : 0;
                    task.MaxValue = Math.Max(1, b.Total);
                    task.Value = b.Final;
                    task.Description = $"{Markup.Escape(b.Name)}: {b.Count("succeeded")} ok, {b.Count("failed")} failed, " +
                                       $"{b.Count("queued")} queued, {b.Count("running") + b.Count("submitting")} running, {rate:0.#}/min";
                    if (b.IsFinished)
                    {
                        break;
                    }

                    await Task.Delay(1000, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            });
        ShowOne((await batches.ProgressAsync(id, CancellationToken.None))!);
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
