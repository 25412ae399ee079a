using Aireiter.Jobs.BackgroundJobs;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Import;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Aireiter.Jobs.Housekeeping;
using Aireiter.Jobs.Outputs;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Schedules;
using Microsoft.Extensions.Configuration;
using Aireiter.Jobs.Submitting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs;

public static class Extensions
{
    /// <summary>
    /// The engine: enqueueing, the submitter and poller loops, leases, wake-ups and the node heartbeat.
    /// Its settings are read from <paramref name="configuration"/> (the app's, or a section of it). Expects the engine's data source
    /// (<see cref="JobsDatabase"/>), the Aireiter client and <see cref="ClusterOptions"/> to be registered.
    /// </summary>
    public static IServiceCollection AddJobsEngine(this IServiceCollection services, IConfiguration configuration)
    {
        // The store's one door: pooled contexts over the node's data source, so a context is reused rather than built per
        // statement, and every read and write of requests shares one connection pool.
        services.AddPooledDbContextFactory<JobsDbContext>((sp, options) => JobsDbContext.Configure(options, sp.GetRequiredKeyedService<NpgsqlDataSource>(JobsDatabase.Key)));
        services.AddSingleton<IValidateOptions<EngineOptions>, EngineOptionsValidator>();
        services.AddOptions<EngineOptions>().Bind(configuration.GetSection(EngineOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PollingOptions>, PollingOptionsValidator>();
        services.AddOptions<PollingOptions>().Bind(configuration.GetSection(PollingOptions.Section)).ValidateOnStart();

        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section)).ValidateOnStart();
        services.AddHttpClient(OutputDownloader.HttpClientName);
        services.AddSingleton<IValidateOptions<SchedulesOptions>, SchedulesOptionsValidator>();
        services.AddOptions<SchedulesOptions>()
            .Configure(o => configuration.GetSection(SchedulesOptions.Section).Bind(o.Items))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<HangfireOptions>, HangfireOptionsValidator>();
        services.AddOptions<HangfireOptions>().Bind(configuration.GetSection(HangfireOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BatchesOptions>, BatchesOptionsValidator>();
        services.AddOptions<BatchesOptions>().Bind(configuration.GetSection(BatchesOptions.Section)).ValidateOnStart();
        services.AddHttpClient(BatchWebhook.HttpClientName);
        services.AddSingleton<IBatchFinishedHandler, BatchWebhook>();
        services.AddSingleton<SchedulePauses>();
        services.AddSingleton<RecurringSchedules>();
        services.AddSingleton<RequestEnqueuer>();
        services.AddSingleton<BatchStore>();
        services.AddSingleton<ResultsCsv>();
        services.AddSingleton<OperatorActions>();
        services.AddSingleton<Monitoring.OverviewQueries>();
        services.AddSingleton<Monitoring.RequestQueries>();
        services.AddSingleton<CatalogueImporter>();
        services.AddSingleton<CatalogueUploads>();
        services.AddSingleton<RequestLifecycle>();
        services.AddMetrics();
        services.AddSingleton<Telemetry.JobsMetrics>();
        services.AddSingleton<SubmitClaims>();
        services.AddSingleton<SubmitPauses>();
        services.AddSingleton<SendSpacing>();
        services.AddSingleton<SubmitProcessor>();
        services.AddSingleton<PollProcessor>();
        services.AddSingleton<PollReschedules>();
        services.AddSingleton<WakeSignals>();
        services.AddSingleton<WorkInFlight>();
        services.AddSingleton<PollLateness>();
        services.AddSingleton<EngineStatus>();

        services.AddHostedService<NodeHeartbeat>();
        services.AddHostedService<NotificationListener>();
        // The host stops its services in the reverse order: the lease keeper stops after the submitter and the poller,
        // so it renews their leases while their work ends and then hands back what the node still holds.
        services.AddHostedService<LeaseKeeper>();
        services.AddHostedService<Submitter>();
        services.AddHostedService<Poller>();
        services.AddHostedService<OutputDownloader>();
        services.AddHostedService<Sweeper>();
        services.AddHostedService<ScheduleRegistrar>();
        return services;
    }
}
