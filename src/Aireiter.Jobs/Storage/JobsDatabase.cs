using Microsoft.Extensions.DependencyInjection;

namespace Aireiter.Jobs.Storage;

/// <summary>
/// The key under which the engine's <c>NpgsqlDataSource</c> is registered. Keyed, so that an app that hosts the engine
/// and has its own data source (for its own database) keeps it: neither resolves the other's by accident.
/// </summary>
public static class JobsDatabase
{
    public const string Key = "Aireiter.Jobs";

    /// <summary>
    /// Registers the engine's data source. No reset on close: every pooled command would otherwise cost a DISCARD ALL.
    /// Nothing here leaves session state behind (the notification listener keeps its own connection; advisory locks are
    /// released explicitly).
    /// </summary>
    public static IServiceCollection AddJobsDatabase(this IServiceCollection services, string connectionString) =>
        services.AddKeyedSingleton(Key, (_, _) =>
            Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { NoResetOnClose = true }.ConnectionString));
}
