using Aireiter.Jobs.Worker.LocalDatabase;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aireiter.Jobs.Testing;

/// <summary>
/// A private PostgreSQL cluster from the machine's binaries, in a folder of its own, on a free loopback port: the test
/// run's server (throwaway, not durable) and each benchmark's (durable, with its statistics extensions).
/// </summary>
public static class PrivatePostgres
{
    public static Task<LocalPostgresCluster> StartAsync(string folder, bool durable, params string[] extraSettings) =>
        LocalPostgresCluster.StartAsync(
            new LocalPostgresSettings { DataDirectory = Path.Combine(folder, "postgres"), Port = FreePort.Next(), Durable = durable, ExtraSettings = extraSettings },
            "postgres", NullLogger.Instance, CancellationToken.None);
}
