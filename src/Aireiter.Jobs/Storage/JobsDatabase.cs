using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Aireiter.Jobs.Storage;

/// <summary>
/// The engine's <c>NpgsqlDataSource</c>: how it is built, and the key under which it is registered. Keyed, so that an app
/// that hosts the engine and has its own data source (for its own database) keeps it: neither resolves the other's by
/// accident.
/// </summary>
public static class JobsDatabase
{
    public const string Key = "Aireiter.Jobs";

    /// <summary>Registers the engine's data source (<see cref="CreateDataSource"/>).</summary>
    public static IServiceCollection AddJobsDatabase(this IServiceCollection services, string connectionString) =>
        services.AddKeyedSingleton(Key, (_, _) => CreateDataSource(connectionString));

    /// <summary>
    /// The data source every part of the engine uses (tools and benchmarks too, so they measure what the product runs).
    /// </summary>
    /// <remarks>
    /// No reset on close: every pooled command would otherwise cost a DISCARD ALL. Nothing here leaves session state
    /// behind but what this method sets (the notification listener keeps its own connection; advisory locks are released
    /// explicitly). Each physical connection plans every statement with its parameters' values
    /// (<c>plan_cache_mode = force_custom_plan</c>): a prepared statement then skips only parsing, never trades the plan its
    /// values get for a generic one. Set once per connection, not as a startup option, which connection poolers refuse.
    /// </remarks>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        builder.UsePhysicalConnectionInitializer(
            connection =>
            {
                using var command = new NpgsqlCommand(CustomPlans, connection);
                command.ExecuteNonQuery();
            },
            async connection =>
            {
                await using var command = new NpgsqlCommand(CustomPlans, connection);
                await command.ExecuteNonQueryAsync();
            });
        return builder.Build();
    }

    private const string CustomPlans = "set plan_cache_mode = force_custom_plan";
}
