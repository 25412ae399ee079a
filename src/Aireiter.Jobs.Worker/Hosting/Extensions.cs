using Aireiter.Client;
using Aireiter.Jobs.AspNetCore;
using Aireiter.Jobs.Worker.Dashboard;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Outputs;
using Aireiter.Jobs.Schedules;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Storage;
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
            .Enrich.WithProperty("Node", ClusterOptions.NodeIdFrom(builder.Configuration));
        // The console in plain text unless the configuration names its own sinks: a sink's settings given in the
        // configuration (a JSON formatter, say) then apply whole, never merged with a default's template.
        if (!builder.Configuration.GetSection("Serilog:WriteTo").GetChildren().Any())
        {
            logger.WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}");
        }

        var serilog = logger.CreateLogger();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddSerilog(serilog, dispose: false);
        return serilog;
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

    /// <summary>
    /// The standalone host is a user of the engine's library like any other app (<see cref="AspNetCore.Extensions.AddAireiterJobs"/>),
    /// around it what an app of its own adds: its Hangfire storage and server on the engine's database, the OpenAPI
    /// document, telemetry, and the API's JSON rules for the whole app.
    /// </summary>
    public static IHostApplicationBuilder AddJobs(this IHostApplicationBuilder builder, string connectionString)
    {
        var services = builder.Services;
        services.AddAireiterJobs(builder.Configuration, jobs =>
        {
            jobs.ConnectionString = connectionString;
            jobs.DashboardPath = DashboardEndpoints.Path;
            jobs.ApiReferencePath = "/api-reference";
            jobs.OpenApiPath = "/openapi/v1.json";
            // DatabaseStartup has migrated already, before the host was built, so that a failure is one line.
            jobs.MigrateOnStart = false;
        });
        services.AddOpenApi();
        services.ConfigureHttpJsonOptions(json =>
        {
            // One naming for the whole API, camelCase, taken exactly: a field it does not know, or one given twice, is refused.
            json.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
            json.SerializerOptions.PropertyNameCaseInsensitive = false;
            json.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
            json.SerializerOptions.AllowDuplicateProperties = false;
        });
        // Hangfire's dashboard checks an antiforgery token on its actions (trigger, requeue, delete) when this is
        // registered, so a page elsewhere cannot make a signed-in browser act on it.
        services.AddAntiforgery();
        services.PostConfigure<StorageOptions>(o => o.OutputDirectory = o.OutputDirectory is { Length: > 0 } dir ? FromRoot(dir) : null);
        builder.AddJobsHangfire();
        builder.AddJobsTelemetry();
        return builder;
    }

    /// <summary>What the short-lived verbs need: the database and the engine's services, but no loops, no scheduler, no web.</summary>
    public static IHostApplicationBuilder AddJobsTools(this IHostApplicationBuilder builder, string connectionString)
    {
        var services = builder.Services;
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section);
        services.AddSingleton(TimeProvider.System);
        services.AddJobsDatabase(connectionString);
        services.AddJobsEngine(builder.Configuration);
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
            HangfireStorage.Create(sp.GetRequiredKeyedService<NpgsqlDataSource>(JobsDatabase.Key), sp.GetRequiredService<IOptions<HangfireOptions>>().Value));
        services.AddHangfire((sp, configuration) => configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseStorage(sp.GetRequiredService<JobStorage>()));
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
