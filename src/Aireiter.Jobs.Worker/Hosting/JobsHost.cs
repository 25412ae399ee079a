using System.CommandLine;
using Aireiter.Jobs.AspNetCore;
using Aireiter.Jobs.Worker.LocalDatabase;
using Aireiter.Simulator;
using Aireiter.Jobs.AspNetCore.Api;
using Aireiter.Jobs.Worker.Cli;
using Aireiter.Jobs.Worker.Dashboard;
using Aireiter.Jobs.Worker.Health;
using Aireiter.Jobs.Worker.Upstream;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;
using Serilog;
using Serilog.Extensions.Logging;

namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>What the verbs do, as a list of steps; the wiring lives in <see cref="Extensions"/>.</summary>
public static class JobsHost
{
    /// <summary>The host's own sections, checked with the engine's (<see cref="SettingsCheck"/>).</summary>
    private static readonly (string Section, Type Options)[] HostSections =
    [
        (EmbeddedDatabaseOptions.Section, typeof(EmbeddedDatabaseOptions)),
        (SimulatorOptions.Section, typeof(SimulatorOptions)),
        (TelemetryOptions.Section, typeof(TelemetryOptions)),
    ];

    public static async Task<int> ServeAsync(ParseResult parse, string? urls, CancellationToken cancellationToken)
    {
        if (SettingOverrides.From(parse) is not { } configArgs)
        {
            return ExitCodes.Setup;
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = configArgs,
            ContentRootPath = AppContext.BaseDirectory,
        });
        if (urls is not null)
        {
            builder.WebHost.UseUrls(urls);
        }

        using var serilog = builder.AddJobsLogging();
        using var loggers = new SerilogLoggerFactory(serilog);
        var log = loggers.CreateLogger("Aireiter.Jobs.Startup");
        try
        {
            SettingsCheck.Check(builder.Configuration, HostSections);
            var connectionString = await DatabaseStartup.ResolveConnectionStringAsync(builder.Configuration, log, cancellationToken);
            await DatabaseStartup.MigrateAsync(connectionString, loggers, cancellationToken);

            await using var simulator = await UpstreamStartup.StartSimulatorUnlessKeyedAsync(builder, serilog, log, cancellationToken);
            builder.AddJobs(connectionString);

            await using var app = builder.Build();
            app.UseJobsRequestLogging(serilog);
            app.UseStatusCodePages();
            // The engine guards its API itself; the host guards what it adds with the same rules.
            app.UseMiddleware<AccessControl>(new AccessScope(["/metrics"], [DashboardEndpoints.Path, "/dashboard"]));
            app.MapDashboard();
            app.MapOpenApi("/openapi/{documentName}.json");
            app.MapScalarApiReference("/api-reference", options => options.WithTitle("Aireiter.Jobs API").WithOpenApiRoutePattern("/openapi/{documentName}.json"));
            app.MapJobsMetrics();
            app.MapJobsHealth();
            app.MapAireiterJobs();
            await app.RunAsync(cancellationToken);
            return 0;
        }
        catch (Exception ex) when (ex is StartupException or SettingsException)
        {
            log.LogCritical("Cannot start: {Reason}", ex.Message);
            return 1;
        }
        catch (OptionsValidationException ex)
        {
            log.LogCritical("Cannot start, a setting is wrong: {Reason}", string.Join(" ", ex.Failures));
            return 1;
        }
    }

    public static Task<int> MigrateAsync(ParseResult parse, CancellationToken cancellationToken) =>
        RunToolAsync(parse, (_, _) => Task.FromResult(0), cancellationToken, quiet: false);

    /// <summary>
    /// Runs a short-lived verb (enqueue, status, export…) against the same database <c>serve</c> uses, with the
    /// schema brought up to date first. Logs go to the console at warning level unless configured otherwise, so
    /// the verb's own output stays readable.
    /// </summary>
    public static async Task<int> RunToolAsync(ParseResult parse, Func<IServiceProvider, CancellationToken, Task<int>> body,
        CancellationToken cancellationToken, bool quiet = true)
    {
        if (SettingOverrides.From(parse) is not { } configArgs)
        {
            return ExitCodes.Setup;
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = configArgs,
            ContentRootPath = AppContext.BaseDirectory,
        });
        if (quiet && builder.Configuration["Serilog:MinimumLevel:Default"] is null or "Information")
        {
            builder.Configuration["Serilog:MinimumLevel:Default"] = "Warning";
            builder.Configuration["Serilog:MinimumLevel:Override:Microsoft.Hosting.Lifetime"] = "Warning";
        }

        using var serilog = builder.AddJobsLogging();
        using var loggers = new SerilogLoggerFactory(serilog);
        var log = loggers.CreateLogger("Aireiter.Jobs.Tool");
        try
        {
            SettingsCheck.Check(builder.Configuration, HostSections);
            var connectionString = await DatabaseStartup.ResolveConnectionStringAsync(builder.Configuration, log, cancellationToken);
            await DatabaseStartup.MigrateAsync(connectionString, loggers, cancellationToken);
            builder.AddJobsTools(connectionString);
            using var host = builder.Build();
            return await body(host.Services, cancellationToken);
        }
        catch (Exception ex) when (ex is StartupException or SettingsException)
        {
            log.LogCritical("Cannot run: {Reason}", ex.Message);
            return 1;
        }
        catch (OptionsValidationException ex)
        {
            log.LogCritical("Cannot run, a setting is wrong: {Reason}", string.Join(" ", ex.Failures));
            return 1;
        }
    }
}
