using System.Net.Sockets;
using Aireiter.Jobs.BackgroundJobs;
using Aireiter.Jobs.Worker.LocalDatabase;
using Aireiter.Jobs.Schema;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>
/// Gets the host a migrated database before anything else starts: the configured one
/// (<c>ConnectionStrings:Jobs</c>) or, when none is set, the private cluster under the repository.
/// Every failure becomes a <see cref="StartupException"/> whose message says what to do.
/// </summary>
public static class DatabaseStartup
{
    public const string ConnectionStringName = "Jobs";

    public static async Task<string> ResolveConnectionStringAsync(
        IConfiguration configuration, ILogger logger, CancellationToken cancellationToken)
    {
        var configured = configuration.GetConnectionString(ConnectionStringName);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(configured);
            }
            catch (ArgumentException ex)
            {
                throw new StartupException($"ConnectionStrings:Jobs is not a valid PostgreSQL connection string: {ex.Message}");
            }

            return configured;
        }

        var options = new EmbeddedDatabaseOptions();
        configuration.GetSection(EmbeddedDatabaseOptions.Section).Bind(options);
        ThrowIfInvalid(options, new EmbeddedDatabaseOptionsValidator());

        var settings = new LocalPostgresSettings
        {
            DataDirectory = Path.Combine(RepositoryRoot.Find(), options.DataDirectory),
            Port = options.Port,
            BinDirectory = options.BinDirectory,
        };

        logger.LogInformation("ConnectionStrings:Jobs is not set: using the embedded PostgreSQL in {DataDirectory}", settings.DataDirectory);
        try
        {
            var cluster = await LocalPostgresCluster.StartAsync(settings, options.Database, logger, cancellationToken);
            return cluster.ConnectionString(options.Database);
        }
        catch (LocalPostgresException ex)
        {
            throw new StartupException(ex.Message);
        }
    }

    public static async Task MigrateAsync(string connectionString, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var migrator = new SchemaMigrator(dataSource, MigrationScript.Embedded(), loggers.CreateLogger<SchemaMigrator>());
        try
        {
            await migrator.MigrateAsync(cancellationToken);
            HangfireStorage.Prepare(dataSource);
        }
        catch (MigrationException ex)
        {
            throw new StartupException(ex.Message);
        }
        catch (Exception ex) when (ex is NpgsqlException or SocketException or TimeoutException)
        {
            throw new StartupException(Describe(ex, connectionString));
        }
    }

    /// <summary>One line on why the database could not be used, without the password.</summary>
    public static string Describe(Exception ex, string connectionString)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var where = $"PostgreSQL at {target.Host}:{target.Port}, database '{target.Database}', user '{target.Username}'";
        return ex switch
        {
            PostgresException { SqlState: "28P01" or "28000" } =>
                $"{where} refused the login ({((PostgresException)ex).MessageText}). Check the user and password in ConnectionStrings:Jobs.",
            PostgresException { SqlState: "3D000" } =>
                $"{where}: the database does not exist. Create it (createdb {target.Database}) or fix ConnectionStrings:Jobs.",
            PostgresException pg => $"{where} answered with an error: {pg.MessageText} ({pg.SqlState}).",
            _ => $"Cannot reach {where}: {Innermost(ex).Message}. Check that the server runs and that ConnectionStrings:Jobs is right.",
        };
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }

    internal static void ThrowIfInvalid<TOptions>(TOptions options, IValidateOptions<TOptions> validator)
        where TOptions : class
    {
        var result = validator.Validate(null, options);
        if (result.Failed)
        {
            throw new StartupException(result.FailureMessage);
        }
    }
}
