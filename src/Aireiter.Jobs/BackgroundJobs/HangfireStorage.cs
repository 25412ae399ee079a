using Hangfire.PostgreSql;
using Npgsql;

namespace Aireiter.Jobs.BackgroundJobs;

/// <summary>
/// Hangfire's storage: schema <c>hangfire</c> of the product's own database, its connections taken from the
/// product's <see cref="NpgsqlDataSource"/> (one pool, one place for the connection string). <see cref="Prepare"/>
/// creates or updates Hangfire's tables under Hangfire.PostgreSql's own lock, so several nodes may start at once; the
/// migrate step calls it, so a running node's storage does not check its tables again.
/// </summary>
public static class HangfireStorage
{
    public const string Schema = "hangfire";

    public static void Prepare(NpgsqlDataSource dataSource) => _ = Create(dataSource, new HangfireOptions(), prepareSchema: true);

    public static PostgreSqlStorage Create(NpgsqlDataSource dataSource, HangfireOptions options, bool prepareSchema = false) =>
        new(new DataSourceConnections(dataSource), new PostgreSqlStorageOptions
        {
            SchemaName = Schema,
            PrepareSchemaIfNecessary = prepareSchema,
            QueuePollInterval = options.QueuePollInterval,
            EnableLongPolling = options.LongPolling,
            // A fetched job belongs to its node while the node keeps extending it; a dead node's job runs again after this.
            InvisibilityTimeout = options.InvisibilityTimeout,
            UseSlidingInvisibilityTimeout = true,
            // A lock whose holder died is given up after this; locks here guard seconds of bookkeeping.
            DistributedLockTimeout = TimeSpan.FromMinutes(1),
        });
}
