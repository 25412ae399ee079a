using Hangfire.PostgreSql;
using Npgsql;

namespace Aireiter.Jobs.BackgroundJobs;

/// <summary>
/// Hands Hangfire.PostgreSql connections from an <see cref="NpgsqlDataSource"/> (it has no overload for one); it opens,
/// uses and disposes each connection, so they return to the data source's pool.
/// </summary>
public sealed class DataSourceConnections(NpgsqlDataSource dataSource) : IConnectionFactory
{
    public NpgsqlConnection GetOrCreateConnection() => dataSource.CreateConnection();
}
