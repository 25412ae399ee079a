using System.Text;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Import;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Api;

public sealed record ImportResult(string BatchName, long? BatchId, bool DryRun, long Lines, long Valid, long Inserted, long AlreadyPresent,
    long Invalid, decimal EstimatedCredits, IReadOnlyList<LineProblem> Problems, IReadOnlyList<string> Notes);

/// <summary>A catalogue taken for import in the background: where to follow it.</summary>
public sealed record ImportAccepted(long Upload, string Batch, string Job, string Follow, string Dashboard);

/// <summary>An uploaded catalogue and how its import job stands.</summary>
public sealed record ImportStatus(UploadInfo Upload, string? JobState);

/// <summary>Batches: their progress, their results, and catalogues imported into them.</summary>
public static class BatchesApi
{
    public static IEndpointRouteBuilder MapBatchesApi(this IEndpointRouteBuilder endpoints)
    {
        var batches = endpoints.MapGroup("/api/batches").WithTags("Batches");
        batches.MapGet("", ListBatches).WithSummary("Recent batches with progress.");
        batches.MapGet("/{name}", GetBatch).WithSummary("One batch: counts per state, credits, start, end, summary.");
        batches.MapGet("/{name}/results.csv", Results).WithSummary("The batch's results as CSV.");
        batches.MapPost("/{name}/import", Import).WithSummary(
            "Import a CSV or JSONL catalogue (the request body) into the batch: at once, or, above Access:BackgroundImportAboveBytes " +
            "(or with background=true), stored and imported by a Hangfire job (202, follow /api/imports/{upload}).");
        endpoints.MapGet("/api/imports/{upload:long}", ImportState).WithTags("Batches").WithSummary("An uploaded catalogue: its import job's state and report.");

        return endpoints;
    }

    private static async Task<Results<Ok<IReadOnlyList<BatchProgress>>, ValidationProblem>> ListBatches(BatchStore batches, int? limit,
        CancellationToken cancellationToken) =>
        limit is < 1 or > 200
            ? TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["must be between 1 and 200"] })
            : TypedResults.Ok(await batches.ListAsync(limit ?? 50, cancellationToken));

    private static async Task<Results<Ok<BatchProgress>, ProblemHttpResult>> GetBatch(string name, BatchStore batches,
        CancellationToken cancellationToken) =>
        await batches.FindAsync(name, cancellationToken) is { } id && await batches.ProgressAsync(id, cancellationToken) is { } progress
            ? TypedResults.Ok(progress)
            : NoBatch(name);

    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Results(string name, BatchStore batches, ResultsCsv results,
        HttpResponse response, CancellationToken cancellationToken)
    {
        if (await batches.FindAsync(name, cancellationToken) is not { } id)
        {
            return NoBatch(name);
        }

        response.ContentType = "text/csv; charset=utf-8";
        response.Headers.ContentDisposition = $"attachment; filename=\"{name}-results.csv\"";
        await using var writer = new StreamWriter(response.Body, new UTF8Encoding(false));
        await results.WriteAsync(id, writer, cancellationToken);
        return TypedResults.Empty;
    }

    private static async Task<Results<Ok<ImportResult>, Accepted<ImportAccepted>, ValidationProblem, ProblemHttpResult>> Import(string name,
        HttpRequest http, CatalogueImporter importer, CatalogueUploads uploads, IBackgroundJobClient jobs, IOptionsMonitor<AccessOptions> access, AireiterJobsOptions host,
        string? model, string? resolution, string? aspectRatio, string? delimiter, bool? dryRun, bool? strict, bool? background,
        CancellationToken cancellationToken)
    {
        var jsonl = http.ContentType?.Contains("ndjson", StringComparison.OrdinalIgnoreCase) == true
                    || http.ContentType?.Contains("jsonl", StringComparison.OrdinalIgnoreCase) == true;
        var defaults = new Dictionary<string, string>();
        if (model is not null) defaults["model"] = model;
        if (resolution is not null) defaults["resolution"] = resolution;
        if (aspectRatio is not null) defaults["aspect_ratio"] = aspectRatio;

        var file = jsonl ? "upload.jsonl" : "upload.csv";
        if (dryRun != true && (background == true || http.ContentLength > access.CurrentValue.BackgroundImportAboveBytes))
        {
            var settings = new UploadSettings(jsonl ? ImportFormat.Jsonl : ImportFormat.Csv, defaults, delimiter, strict == true);
            var upload = await uploads.StoreAsync(http.Body, name, file, settings, cancellationToken);
            var job = jobs.Enqueue<CatalogueUploadJob>(j => j.RunAsync(upload, name, CancellationToken.None));
            await uploads.SetJobAsync(upload, job, cancellationToken);
            var follow = $"{http.PathBase}/api/imports/{upload}";
            return TypedResults.Accepted(follow, new ImportAccepted(upload, name, job, follow, $"{http.PathBase}{host.DashboardPath}/jobs/details/{job}"));
        }

        var report = await importer.ImportAsync(http.Body, file, new ImportOptions
        {
            BatchName = name,
            BatchSource = "api",
            Format = jsonl ? ImportFormat.Jsonl : ImportFormat.Csv,
            Defaults = defaults,
            Delimiter = delimiter,
            DryRun = dryRun == true,
            Strict = strict == true,
        }, cancellationToken);

        if (report.FileError is not null)
        {
            return TypedResults.Problem(report.FileError, statusCode: 400, title: "The file was refused; nothing was stored.");
        }

        var result = new ImportResult(report.BatchName, report.BatchId, report.DryRun, report.Lines, report.Valid, report.Inserted,
            report.AlreadyPresent, report.InvalidCount, report.EstimatedCredits, report.Invalid, report.Notes);
        if (report.InvalidCount > 0 && (report.RolledBack || report.Valid == 0))
        {
            return TypedResults.ValidationProblem(
                report.Invalid.GroupBy(p => $"line {p.Line}").ToDictionary(g => g.Key, g => g.Select(p => p.ToString()).ToArray()),
                title: report.RolledBack ? "Some lines are not valid; nothing was stored (strict)." : "No line is valid; nothing was stored.");
        }

        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<ImportStatus>, ProblemHttpResult>> ImportState(long upload, CatalogueUploads uploads, JobStorage storage,
        CancellationToken cancellationToken)
    {
        if (await uploads.FindAsync(upload, cancellationToken) is not var (info, _))
        {
            return ApiProblems.NotFound($"No upload {upload}.");
        }

        using var connection = storage.GetConnection();
        var state = info.JobId is { } job ? connection.GetStateData(job)?.Name : null;
        return TypedResults.Ok(new ImportStatus(info, state));
    }

    private static ProblemHttpResult NoBatch(string name) => ApiProblems.NotFound($"No batch named '{name}'.");
}
