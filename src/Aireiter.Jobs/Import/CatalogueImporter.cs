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
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Telemetry;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Aireiter.Jobs.Import;

/// <summary>
/// Imports a catalogue file (CSV or JSONL) as one batch. It streams the file, so memory stays flat at any
/// size; a bad line is reported with its number, column and reason and never sinks the good ones (unless
/// strict); re-importing the same file inserts nothing new, because each out_task_id is derived from the
/// batch name and the line's key. The whole file is stored in one transaction: all of it, or nothing.
/// </summary>
public sealed partial class CatalogueImporter(
    IDbContextFactory<JobsDbContext> contexts,
    RequestEnqueuer enqueuer,
    BatchStore batches,
    IOptionsMonitor<EngineOptions> engine,
    JobsMetrics metrics,
    ILogger<CatalogueImporter> logger)
{
    private const int ChunkSize = 2000;

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

        JobsDbContext? db = null;
        IDbContextTransaction? transaction = null;
        try
        {
            if (!options.DryRun)
            {
                db = await contexts.CreateDbContextAsync(cancellationToken);
                transaction = await db.Database.BeginTransactionAsync(cancellationToken);
                report.BatchId = await batches.GetOrCreateAsync(db, options.BatchName, options.BatchSource, fileName,
                    options.BatchCreditBudget, cancellationToken);
            }

            using var reader = new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
            var lines = format == ImportFormat.Jsonl
                ? CatalogueLines.ReadJsonl(reader, options, report, cancellationToken)
                : CatalogueLines.ReadCsv(reader, options, report, cancellationToken);
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
                        storing = Store(db!, chunk, report, cancellationToken);
                        chunk = new List<(long Line, RequestEnqueuer.Prepared Item)>(ChunkSize);
                    }
                }
            }

            await storing;
            if (transaction is not null)
            {
                await Store(db!, chunk, report, cancellationToken);
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
                    metrics.Imported(report.Inserted, report.AlreadyPresent, report.InvalidCount);
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

            if (db is not null)
            {
                await db.DisposeAsync();
            }
        }

        report.Elapsed = clock.Elapsed;
        LogImported(fileName, options.BatchName, report.Lines, report.Inserted, report.AlreadyPresent, report.InvalidCount, report.FileError);
        return report;
    }

    private async Task Store(JobsDbContext db, List<(long Line, RequestEnqueuer.Prepared Item)> chunk,
        ImportReport report, CancellationToken cancellationToken)
    {
        if (chunk.Count == 0)
        {
            return;
        }

        var results = await enqueuer.InsertAsync(db, chunk.Select(c => c.Item).ToList(), cancellationToken);
        report.Inserted += results.Count(r => r.Status == EnqueueStatus.Inserted);
        report.AlreadyPresent += results.Count(r => r.Status == EnqueueStatus.AlreadyPresent);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Imported {File} into {Batch}: {Lines} lines, {Inserted} new, {AlreadyPresent} already present, {Invalid} invalid {FileError}")]
    private partial void LogImported(string file, string batch, long lines, long inserted, long alreadyPresent, long invalid, string? fileError);
}
