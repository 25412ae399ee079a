using Aireiter.Client;
using Aireiter.Jobs.Worker.Api;
using Aireiter.Jobs.Worker.Dashboard;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Outputs;
using Aireiter.Jobs.Schedules;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Worker.Health;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using Aireiter.Jobs.BackgroundJobs;
using Hangfire;
using Serilog;

namespace Aireiter.Jobs.Worker.Hosting;


/// <summary>The service wiring of the worker host, one method per concern.</summary>
public static class Extensions
{
    /// <summary>
    /// Serilog from the <c>Serilog</c> configuration section (console by default; file sinks and compact JSON are
    /// configuration only, see the README), every event with the node it came from. Microsoft's own filter lets
    /// everything through so that Serilog's levels rule. Registered the Serilog.AspNetCore way, so the host can log one
    /// line per HTTP call (<see cref="UseJobsRequestLogging"/>).
    /// </summary>
    public static Serilog.Core.Logger AddJobsLogging(this IHostApplicationBuilder builder)
    {
        var logger = new LoggerConfiguration()
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .Enrich.WithProperty("Node", ClusterOptions.NodeIdFrom(builder.Configuration))
            .CreateLogger();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddSerilog(logger, dispose: false);
        return logger;
    }

    /// <summary>
    /// One log line per HTTP call (method, path, status, time), at Information; the calls made all the time (health,
    /// <c>/metrics</c>, the dashboard's live figures) at Debug, so they do not drown the rest.
    /// </summary>
    public static WebApplication UseJobsRequestLogging(this WebApplication app, Serilog.ILogger logger)
    {
        app.UseSerilogRequestLogging(options =>
        {
            options.Logger = logger;
            options.GetLevel = (http, _, failure) =>
                failure is not null || http.Response.StatusCode >= 500 ? Serilog.Events.LogEventLevel.Error
                : TelemetrySetup.IsQuiet(http.Request.Path) ? Serilog.Events.LogEventLevel.Debug
                : Serilog.Events.LogEventLevel.Information;
        });
        return app;
    }

    public static IHostApplicationBuilder AddJobs(this IHostApplicationBuilder builder, string connectionString)
    {
        var services = builder.Services;

        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section).ValidateOnStart();
        services.AddSingleton(TimeProvider.System);

        // No reset on close: every pooled command would otherwise cost a DISCARD ALL. Nothing here leaves session
        // state behind (the notification listener keeps its own connection; advisory locks are released explicitly).
        services.AddSingleton(_ => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { NoResetOnClose = true }.ConnectionString));

        services.AddAireiterClient();
        services.AddJobsEngine();
        services.AddSingleton<IValidateOptions<AccessOptions>, AccessOptionsValidator>();
        services.AddOptions<AccessOptions>().BindConfiguration(AccessOptions.Section).ValidateOnStart();
        services.AddOpenApi();
        services.ConfigureHttpJsonOptions(json =>
        {
            // One naming for the whole API, camelCase, taken exactly: a field it does not know, or one given twice, is refused.
            json.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
            json.SerializerOptions.PropertyNameCaseInsensitive = false;
            json.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
            json.SerializerOptions.AllowDuplicateProperties = false;
        });
        // A parameter the API cannot read becomes a problem that names it (ProblemResponses), not an empty 400.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails();
        // Hangfire's dashboard checks an antiforgery token on its actions (trigger, requeue, delete) when this is
        // registered, so a page elsewhere cannot make a signed-in browser act on it.
        services.AddAntiforgery();
        services.PostConfigure<StorageOptions>(o => o.OutputDirectory = o.OutputDirectory is { Length: > 0 } dir ? FromRoot(dir) : null);
        builder.AddJobsHangfire();
        builder.AddJobsTelemetry();

        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [HealthEndpoints.ReadyTag])
            .AddCheck<UpstreamHealthCheck>("upstream", tags: [HealthEndpoints.ReadyTag])
            .AddCheck<SubmittingHealthCheck>("submitting", tags: [HealthEndpoints.ReadyTag])
            .AddCheck<HangfireHealthCheck>("hangfire", tags: [HealthEndpoints.ReadyTag]);
        return builder;
    }

    /// <summary>What the short-lived verbs need: the database and the engine's services, but no loops, no scheduler, no web.</summary>
    public static IHostApplicationBuilder AddJobsTools(this IHostApplicationBuilder builder, string connectionString)
    {
        var services = builder.Services;
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.AddJobsEngine();
        // The verbs only use the engine's services; its loops belong to serve.
        services.RemoveAll<IHostedService>();
        return builder;
    }

    /// <summary>
    /// Hangfire on the product's database (schema <c>hangfire</c>, see <see cref="HangfireStorage"/>) and one Hangfire
    /// server per node, named after the node, so Hangfire's Servers page is the cluster's node list. It runs the
    /// schedules, housekeeping and the jobs whose unit is a file or a batch; submits and polls stay on the engine.
    /// Every job of the product sets its own <c>AutomaticRetry</c>; the global default is left alone for the host's jobs.
    /// </summary>
    private static void AddJobsHangfire(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<JobStorage>(sp =>
            HangfireStorage.Create(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<IOptions<HangfireOptions>>().Value));
        services.AddHangfire((sp, configuration) => configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseStorage(sp.GetRequiredService<JobStorage>())
            .UseGenerationDashboard());
        services.AddHangfireServer((sp, server) =>
        {
            var options = sp.GetRequiredService<IOptions<HangfireOptions>>().Value;
            server.ServerName = sp.GetRequiredService<IOptions<ClusterOptions>>().Value.NodeId;
            server.WorkerCount = options.Workers;
            server.SchedulePollingInterval = options.SchedulePollingInterval;
            server.HeartbeatInterval = options.HeartbeatInterval;
            server.ServerTimeout = options.ServerTimeout;
            server.ServerCheckInterval = options.ServerTimeout;
            server.ShutdownTimeout = TimeSpan.FromSeconds(10);
        });
    }

    /// <summary>A configured folder: relative paths are taken from the repository root (or the working directory).</summary>
    private static string FromRoot(string path) =>
        string.IsNullOrEmpty(path) || Path.IsPathRooted(path) ? path : Path.Combine(RepositoryRoot.Find(), path);
}
