namespace Aireiter.Jobs.AspNetCore;

/// <summary>
/// How the app hosts the engine, set in code by <see cref="Extensions.AddAireiterJobs"/>; the engine's own settings
/// (Engine, Polling, Aireiter, Access…) come from the configuration given to it.
/// </summary>
public sealed class AireiterJobsOptions
{
    /// <summary>The engine's PostgreSQL database; by default <c>ConnectionStrings:Jobs</c> of the configuration given.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Where the app maps Hangfire's dashboard; the Generation pages find the API beside it.</summary>
    public string DashboardPath { get; set; } = "/hangfire";

    /// <summary>The app's API reference and OpenAPI document, when it maps them: linked below the Generation pages.</summary>
    public string? ApiReferencePath { get; set; }

    /// <inheritdoc cref="ApiReferencePath"/>
    public string? OpenApiPath { get; set; }

    /// <summary>
    /// Bring the schema up to date as the app starts, before its hosted services (<see cref="Schema.SchemaStartup"/>).
    /// The standalone host migrates before it builds and turns this off.
    /// </summary>
    public bool MigrateOnStart { get; set; } = true;
}
