using Aireiter.Jobs.Worker.Callbacks;
using Aireiter.Jobs.Worker.Health;
using Aireiter.Jobs.Worker.Upstream;
using Microsoft.Extensions.Options;
using Serilog;
using Serilog.Extensions.Logging;

namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>What the verbs do, as a list of steps; the wiring lives in <see cref="Extensions"/>.</summary>
public static class JobsHost
{
    public static async Task<int> ServeAsync(string[] configArgs, string? urls, CancellationToken cancellationToken)
    {
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
            var connectionString = await DatabaseStartup.ResolveConnectionStringAsync(builder.Configuration, log, cancellationToken);
            await DatabaseStartup.MigrateAsync(connectionString, loggers, cancellationToken);

            await using var simulator = await UpstreamStartup.StartSimulatorUnlessKeyedAsync(builder, serilog, log, cancellationToken);
            builder.AddJobs(connectionString);

            await using var app = builder.Build();
            app.MapJobsHealth();
            app.MapCallbacks();
            await app.RunAsync(cancellationToken);
            return 0;
        }
        catch (StartupException ex)
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

    public static async Task<int> MigrateAsync(string[] configArgs, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = configArgs,
            ContentRootPath = AppContext.BaseDirectory,
        });
        using var serilog = builder.AddJobsLogging();
        using var loggers = new SerilogLoggerFactory(serilog);
        var log = loggers.CreateLogger("Aireiter.Jobs.Migrate");
        try
        {
            var connectionString = await DatabaseStartup.ResolveConnectionStringAsync(builder.Configuration, log, cancellationToken);
            await DatabaseStartup.MigrateAsync(connectionString, loggers, cancellationToken);
            return 0;
        }
        catch (StartupException ex)
        {
            log.LogCritical("Cannot migrate: {Reason}", ex.Message);
            return 1;
        }
    }
}
