using Aireiter.Jobs.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aireiter.Jobs.Schema;

/// <summary>
/// Brings the engine's schema up to date when the app that hosts the engine starts, before any hosted service of the
/// app starts (its Hangfire server included), so no loop or job of the engine ever runs on a schema older than the
/// code. A failure stops the app's start-up with the migrator's message. The standalone host migrates earlier, before
/// it builds (to say "Cannot start" in one line), and leaves this out.
/// </summary>
public sealed class SchemaStartup([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource, ILogger<SchemaMigrator> logger)
    : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken) =>
        await new SchemaMigrator(dataSource, MigrationScript.Embedded(), logger).MigrateAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
