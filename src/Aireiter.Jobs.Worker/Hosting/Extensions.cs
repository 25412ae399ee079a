using Aireiter.Client;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Worker.Health;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;
using Serilog;

namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>The service wiring of the worker host, one method per concern.</summary>
public static class Extensions
{
    /// <summary>
    /// Serilog from the <c>Serilog</c> configuration section (console by default; file and JSON sinks
    /// are configuration only). Microsoft's own filter lets everything through so that Serilog's levels rule.
    /// </summary>
    public static Serilog.Core.Logger AddJobsLogging(this IHostApplicationBuilder builder)
    {
        var logger = new LoggerConfiguration()
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .CreateLogger();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddSerilog(logger);
        return logger;
    }

    public static IHostApplicationBuilder AddJobs(this IHostApplicationBuilder builder, string connectionString)
    {
        var services = builder.Services;

        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section).ValidateOnStart();
        services.AddSingleton(TimeProvider.System);

        services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.AddDbContext<JobsDbContext>((sp, options) => options.UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>()));

        services.AddAireiterClient();
        builder.AddJobsScheduler(connectionString);

        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [HealthEndpoints.ReadyTag])
            .AddCheck<UpstreamHealthCheck>("upstream", tags: [HealthEndpoints.ReadyTag])
            .AddQuartz(o => o.Tags.Add(HealthEndpoints.ReadyTag));
        return builder;
    }

    /// <summary>
    /// Quartz on its clustered PostgreSQL store, in the same database. It creates its own tables
    /// (<c>qrtz_*</c>) when they are missing; our migrations never touch them.
    /// </summary>
    private static void AddJobsScheduler(this IHostApplicationBuilder builder, string connectionString)
    {
        var cluster = new ClusterOptions();
        builder.Configuration.GetSection(ClusterOptions.Section).Bind(cluster);
        var validation = new ClusterOptionsValidator().Validate(null, cluster);
        if (validation.Failed)
        {
            throw new StartupException(validation.FailureMessage);
        }

        builder.Services.AddQuartz(q =>
        {
            q.ConfigureScheduler(o =>
            {
                o.InstanceName = "aireiter-jobs";
                o.InstanceId = cluster.NodeId;
            });
            q.UseDefaultThreadPool(cluster.SchedulerThreads);
            q.UsePersistentStore(store =>
            {
                store.UsePostgres(NpgsqlFactory.Instance, connectionString);
                store.UseSystemTextJsonSerializer();
                store.UseClustering(c =>
                {
                    c.CheckinInterval = cluster.CheckinInterval;
                    c.CheckinMisfireThreshold = cluster.CheckinMisfireThreshold;
                });
                store.ProvisionSchema();
            });
        });
        builder.Services.AddQuartzHostedService(o => o.WaitForJobsToComplete = true);
    }
}
