using Aireiter.Client;
using Aireiter.Jobs.AspNetCore.Api;
using Aireiter.Jobs.AspNetCore.Callbacks;
using Aireiter.Jobs.AspNetCore.Dashboard;
using Aireiter.Jobs.AspNetCore.Health;
using Aireiter.Jobs.AspNetCore.Upstream;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Schema;
using Aireiter.Jobs.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore;

/// <summary>
/// The engine in an ASP.NET Core app that runs Hangfire: two calls, <see cref="AddAireiterJobs"/> and
/// <see cref="MapAireiterJobs"/>. The app keeps its Hangfire storage, server and dashboard; the engine's jobs (schedules,
/// housekeeping, imports, finished batches) run on them, and its Generation pages appear in that dashboard. Submits and
/// polls run on the engine's own loops, on the engine's own database.
/// </summary>
public static class Extensions
{
    /// <summary>
    /// The engine's services, its loops, health checks and dashboard pages. Settings are read from
    /// <paramref name="configuration"/>: the app's configuration or a section of it (<c>ConnectionStrings:Jobs</c>,
    /// <c>Aireiter</c>, <c>Engine</c>, <c>Polling</c>, <c>Access</c>…, as the README lists them). Expects the app to
    /// register Hangfire (<c>AddHangfire</c>, and <c>AddHangfireServer</c> on the nodes that run jobs). A setting in those
    /// sections that does not exist, or cannot be read, throws a <see cref="SettingsException"/> that names it.
    /// </summary>
    public static IServiceCollection AddAireiterJobs(this IServiceCollection services, IConfiguration configuration,
        Action<AireiterJobsOptions>? configure = null)
    {
        // A misspelt setting would otherwise be ignored, and the engine would run on the default its operator meant to change.
        SettingsCheck.Check(configuration);
        var options = new AireiterJobsOptions { ConnectionString = configuration.GetConnectionString("Jobs") };
        configure?.Invoke(options);
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            throw new InvalidOperationException(
                "Aireiter.Jobs needs a PostgreSQL database: set ConnectionStrings:Jobs in the configuration given to AddAireiterJobs.");
        }

        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddJobsDatabase(options.ConnectionString);
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddOptions<ClusterOptions>().Bind(configuration.GetSection(ClusterOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AccessOptions>, AccessOptionsValidator>();
        services.AddOptions<AccessOptions>().Bind(configuration.GetSection(AccessOptions.Section)).ValidateOnStart();
        services.AddAireiterClient(configuration);
        services.TryAddSingleton(sp => new UpstreamMode(false, sp.GetRequiredService<IOptions<AireiterOptions>>().Value.BaseUrl));
        if (options.MigrateOnStart)
        {
            // Registered before the engine's loops; as a lifecycle service it runs before every hosted service's start.
            services.AddHostedService<SchemaStartup>();
        }

        services.AddJobsEngine(configuration);
        services.AddProblemDetails();
        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("aireiter-database", tags: [ReadyTag])
            .AddCheck<UpstreamHealthCheck>("aireiter-upstream", tags: [ReadyTag])
            .AddCheck<SubmittingHealthCheck>("aireiter-submitting", tags: [ReadyTag])
            .AddCheck<HangfireHealthCheck>("aireiter-hangfire", tags: [ReadyTag]);
        GenerationDashboard.Register();
        return services;
    }

    /// <summary>The tag of the engine's health checks: what a readiness endpoint should include.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// The engine's API (<c>/api/…</c>, guarded by the <c>Access</c> rules: local callers, the API key, or <c>Access:Users</c>)
    /// and the upstream's callbacks (<c>/callbacks/aireiter/…</c>). A bad parameter or body on these paths gets a problem
    /// that names it; the app's own endpoints and their settings are left as they are. Returns the group, for the app's
    /// own conventions (rate limiting, CORS, an authorization policy on top of the Access rules).
    /// </summary>
    public static RouteGroupBuilder MapAireiterJobs(this WebApplication app)
    {
        app.UseMiddleware<ProblemResponses>();
        app.UseMiddleware<AccessControl>(AccessScope.EngineApi);

        var engine = EngineEndpoints.Group(app);
        var api = engine.MapGroup("").AddEndpointFilterFactory(ApiProblems.RejectUnknownQueryParameters);
        api.MapOperationsApi();
        api.MapRequestsApi();
        api.MapBatchesApi();
        engine.MapCallbacks();
        return engine;
    }
}
