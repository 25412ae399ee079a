using System.Text.Json;
using Hangfire;
using Microsoft.Extensions.Logging;

namespace Aireiter.Jobs.Import;

/// <summary>
/// Imports a catalogue uploaded through the API (stored by <see cref="CatalogueUploads"/>), as a Hangfire job: it shows
/// on the dashboard, retries on a database fault, and may run twice without harm: the lines of a second run are
/// already present (their out_task_ids are derived from batch and key), and an upload already recorded as imported
/// is not read again.
/// </summary>
[AutomaticRetry(Attempts = 3, DelaysInSeconds = [10, 60, 300], OnAttemptsExceeded = AttemptsExceededAction.Fail)]
public sealed partial class CatalogueUploadJob(CatalogueUploads uploads, CatalogueImporter importer, TimeProvider time,
    ILogger<CatalogueUploadJob> logger)
{
    [JobDisplayName("Import catalogue upload {0} into batch {1}")]
    public async Task<string> RunAsync(long upload, string batch, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["Batch"] = batch, ["Upload"] = upload });
        if (await uploads.FindAsync(upload, cancellationToken) is not var (info, settings))
        {
            return "no such upload";
        }

        if (info.ImportedAt is not null)
        {
            return "already imported";
        }

        await using var stream = uploads.Open(upload);
        var report = await importer.ImportAsync(stream, info.FileName, new ImportOptions
        {
            BatchName = info.Batch,
            BatchSource = "api",
            Format = settings.Format,
            Defaults = settings.Defaults,
            Delimiter = settings.Delimiter,
            Strict = settings.Strict,
        }, cancellationToken);

        var summary = JsonSerializer.Serialize(new
        {
            batch = report.BatchName,
            batchId = report.BatchId,
            lines = report.Lines,
            valid = report.Valid,
            inserted = report.Inserted,
            alreadyPresent = report.AlreadyPresent,
            invalid = report.InvalidCount,
            rolledBack = report.RolledBack,
            fileError = report.FileError,
            problems = report.Invalid.Take(100).Select(p => p.ToString()),
        });
        if (!await uploads.MarkImportedAsync(upload, summary, time.GetUtcNow(), cancellationToken))
        {
            // Another run of this job finished first and kept its report; this run's lines were all already present.
            return "already imported by another run";
        }

        LogImported(upload, report.BatchName, report.Inserted, report.AlreadyPresent, report.InvalidCount, report.FileError);
        return report.FileError ?? $"{report.Inserted} new, {report.AlreadyPresent} already present, {report.InvalidCount} invalid";
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Upload {Upload} into {Batch}: {Inserted} new, {AlreadyPresent} already present, {Invalid} invalid {FileError}")]
    private partial void LogImported(long upload, string batch, long inserted, long alreadyPresent, long invalid, string? fileError);
}
