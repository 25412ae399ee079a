using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aireiter.Jobs.Worker.LocalDatabase;

/// <summary>What a private cluster is made of: where its files live, the port, and how durable it is.</summary>
public sealed record LocalPostgresSettings
{
    public required string DataDirectory { get; init; }
    public int Port { get; init; } = 55432;
    public string? BinDirectory { get; init; }

    /// <summary>Off only for throwaway test clusters: no fsync, no full-page writes.</summary>
    public bool Durable { get; init; } = true;

    /// <summary>More postgresql.conf lines, written when the cluster is created (e.g. shared_preload_libraries).</summary>
    public IReadOnlyList<string> ExtraSettings { get; init; } = [];
}

/// <summary>
/// A private PostgreSQL cluster run from the machine's own PostgreSQL binaries, for the embedded
/// default and for tests. It listens on 127.0.0.1 only, uses a generated password, and is reused
/// by the next start. As root it runs as the <c>postgres</c> user, because <c>initdb</c> refuses root.
/// </summary>
public sealed class LocalPostgresCluster
{
    private const string Superuser = "postgres";

    private readonly string _binDirectory;
    private readonly bool _runAsPostgresUser;
    private readonly ILogger _logger;

    private LocalPostgresCluster(string dataDirectory, string binDirectory, int port, string password, bool runAsPostgresUser, ILogger logger)
    {
        DataDirectory = dataDirectory;
        _binDirectory = binDirectory;
        Port = port;
        Password = password;
        _runAsPostgresUser = runAsPostgresUser;
        _logger = logger;
    }

    public string DataDirectory { get; }
    public int Port { get; }
    internal string Password { get; }

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Password = Password,
        Database = database,
    }.ConnectionString;

    /// <summary>Creates the cluster on first use, starts it unless it already runs, and makes sure <paramref name="database"/> exists.</summary>
    public static async Task<LocalPostgresCluster> StartAsync(
        LocalPostgresSettings settings, string database, ILogger logger, CancellationToken cancellationToken)
    {
        var bin = FindBinaries(settings.BinDirectory);
        var asPostgres = string.Equals(Environment.UserName, "root", StringComparison.Ordinal);
        var dataDirectory = Path.GetFullPath(settings.DataDirectory);
        if (asPostgres && !await PostgresUserCanReach(Path.GetDirectoryName(dataDirectory)!, cancellationToken))
        {
            var fallback = Path.Combine("/var/lib/aireiter-jobs",
                Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(dataDirectory)))[..12], "postgres");
            logger.LogWarning(
                "The postgres user cannot reach {DataDirectory}; keeping the embedded database in {Fallback} instead",
                dataDirectory, fallback);
            dataDirectory = fallback;
        }

        var parent = Path.GetDirectoryName(dataDirectory)!;
        Directory.CreateDirectory(parent);

        // Two hosts started at once must not both run initdb or pg_ctl start on the same folder.
        await using var folderLock = await AcquireLock(Path.Combine(parent, Path.GetFileName(dataDirectory) + ".lock"), cancellationToken);

        var passwordFile = Path.Combine(parent, Path.GetFileName(dataDirectory) + ".password");
        var cluster = new LocalPostgresCluster(dataDirectory, bin, settings.Port,
            File.Exists(passwordFile) ? (await File.ReadAllTextAsync(passwordFile, cancellationToken)).Trim() : NewPassword(),
            asPostgres, logger);

        if (!File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
        {
            await cluster.Initialise(passwordFile, settings.Durable, settings.ExtraSettings, cancellationToken);
        }

        var running = await cluster.RunningPort(cancellationToken);
        if (running is { } port)
        {
            logger.LogInformation("Reusing the local PostgreSQL in {DataDirectory} on 127.0.0.1:{Port}", dataDirectory, port);
            cluster = new LocalPostgresCluster(dataDirectory, bin, port, cluster.Password, asPostgres, logger);
        }
        else
        {
            await cluster.Start(cancellationToken);
        }

        await cluster.EnsureDatabase(database, cancellationToken);
        return cluster;
    }

    /// <summary>Stops the server. <paramref name="immediate"/> skips the checkpoint: for throwaway clusters.</summary>
    public async Task StopAsync(bool immediate = false)
    {
        await Run("pg_ctl", ["stop", "-D", DataDirectory, "-m", immediate ? "immediate" : "fast", "-w"], allowFailure: true, direct: false, CancellationToken.None);
    }

    /// <summary>The command line that stops this server, for a watchdog outside this process.</summary>
    public IReadOnlyList<string> StopCommandLine(bool immediate)
    {
        string[] stop = [Path.Combine(_binDirectory, "pg_ctl"), "stop", "-D", DataDirectory, "-m", immediate ? "immediate" : "fast"];
        return _runAsPostgresUser ? ["runuser", "-u", "postgres", "--", .. stop] : stop;
    }

    /// <summary>Stops whatever server runs on <paramref name="dataDirectory"/>, if any.</summary>
    public static Task StopAsync(string dataDirectory, bool immediate = false)
    {
        var cluster = new LocalPostgresCluster(dataDirectory, FindBinaries(null), 0, "",
            string.Equals(Environment.UserName, "root", StringComparison.Ordinal), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        return cluster.StopAsync(immediate);
    }

    internal static string FindBinaries(string? configured) =>
        FindBinaries(configured, "/usr/lib/postgresql", Environment.GetEnvironmentVariable("PATH"));

    /// <summary>Finds initdb and pg_ctl: the configured folder, else Debian's per-version folders, else PATH.</summary>
    internal static string FindBinaries(string? configured, string debianRoot, string? path)
    {
        static bool HasTools(string dir) => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

        if (!string.IsNullOrWhiteSpace(configured))
        {
            return HasTools(configured)
                ? configured
                : throw new LocalPostgresException(
                    $"EmbeddedDatabase:BinDirectory is '{configured}', but initdb and pg_ctl are not there. " +
                    "Point it at the folder that holds them (for example /usr/lib/postgresql/15/bin).");
        }

        // Debian and Ubuntu keep the server binaries out of PATH, one folder per major version: take the newest.
        if (Directory.Exists(debianRoot))
        {
            var newest = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => HasTools(d.Dir))
                .OrderByDescending(d => d.Version)
                .FirstOrDefault();
            if (newest.Dir is not null)
            {
                return newest.Dir;
            }
        }

        var onPath = (path ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(HasTools);

        return onPath ?? throw new LocalPostgresException(
            "PostgreSQL is not installed: initdb and pg_ctl were not found in /usr/lib/postgresql/*/bin or on PATH. " +
            "Install it (Debian/Ubuntu: sudo apt-get install -y postgresql), or set ConnectionStrings:Jobs to an existing server.");
    }

    private async Task Initialise(string passwordFile, bool durable, IReadOnlyList<string> extra, CancellationToken cancellationToken)
    {
        _logger.LogInformation("Creating a local PostgreSQL cluster in {DataDirectory}", DataDirectory);
        Directory.CreateDirectory(DataDirectory);
        await File.WriteAllTextAsync(passwordFile, Password, cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        // initdb reads the password from a file; it must be readable by whoever runs initdb, and gone afterwards.
        var initPasswordFile = Path.Combine(Path.GetTempPath(), $"aireiter-pw-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(initPasswordFile, Password, cancellationToken);
        try
        {
            if (_runAsPostgresUser)
            {
                await Run("/bin/chown", ["-R", "postgres:postgres", DataDirectory, initPasswordFile], allowFailure: false, direct: true, cancellationToken);
            }

            await Run("initdb", ["-D", DataDirectory, "-U", Superuser, "--pwfile", initPasswordFile,
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions"],
                cancellationToken);
        }
        finally
        {
            File.Delete(initPasswordFile);
        }

        var settings = new StringBuilder()
            .AppendLine()
            .AppendLine("# Written by Aireiter.Jobs: a private cluster on loopback only.")
            .AppendLine("listen_addresses = '127.0.0.1'")
            .AppendLine("unix_socket_directories = ''")
            .AppendLine("max_connections = 200")
            .AppendLine("shared_buffers = 256MB");
        if (!durable)
        {
            settings.AppendLine("fsync = off").AppendLine("synchronous_commit = off").AppendLine("full_page_writes = off");
        }

        foreach (var line in extra)
        {
            settings.AppendLine(line);
        }

        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), settings.ToString(), cancellationToken);
    }

    private async Task Start(CancellationToken cancellationToken)
    {
        _logger.LogInformation("Starting the local PostgreSQL in {DataDirectory} on 127.0.0.1:{Port}", DataDirectory, Port);
        var log = Path.Combine(DataDirectory, "server.log");
        var result = await Run("pg_ctl", ["start", "-D", DataDirectory, "-w", "-t", "60", "-l", log, "-o", $"-p {Port}"],
            allowFailure: true, direct: false, cancellationToken);
        if (result.ExitCode != 0)
        {
            var tail = File.Exists(log) ? string.Join(" | ", File.ReadLines(log).TakeLast(3)) : result.Error.Trim();
            throw new LocalPostgresException(
                $"The local PostgreSQL in {DataDirectory} did not start on 127.0.0.1:{Port} ({tail}). " +
                "If another server holds the port, set EmbeddedDatabase:Port to a free one.");
        }
    }

    /// <summary>The port of the server already running on this data folder, read from its postmaster.pid.</summary>
    private async Task<int?> RunningPort(CancellationToken cancellationToken)
    {
        var status = await Run("pg_ctl", ["status", "-D", DataDirectory], allowFailure: true, direct: false, cancellationToken);
        if (status.ExitCode != 0)
        {
            return null;
        }

        var pidFile = await File.ReadAllLinesAsync(Path.Combine(DataDirectory, "postmaster.pid"), cancellationToken);
        return pidFile.Length > 3 && int.TryParse(pidFile[3], out var port) ? port : null;
    }

    private async Task EnsureDatabase(string database, CancellationToken cancellationToken)
    {
        // Unpooled: a pooled connection from before a restart of this same server would be dead.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString("postgres")) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @name", connection);
        exists.Parameters.AddWithValue("name", database);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            await using var create = new NpgsqlCommand($"create database \"{database.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private Task<ProcessResult> Run(string tool, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
        => Run(tool, arguments, allowFailure: false, direct: false, cancellationToken);

    private Task<ProcessResult> Run(string tool, IReadOnlyList<string> arguments, bool allowFailure, bool direct,
        CancellationToken cancellationToken)
    {
        var file = direct ? tool : Path.Combine(_binDirectory, tool);
        return _runAsPostgresUser && !direct
            ? RunProcess("runuser", ["-u", "postgres", "--", file, .. arguments], allowFailure, cancellationToken)
            : RunProcess(file, arguments, allowFailure, cancellationToken);
    }

    private static async Task<bool> PostgresUserCanReach(string directory, CancellationToken cancellationToken)
    {
        // The folder itself may not exist yet: the nearest existing ancestor must be traversable.
        var existing = directory;
        while (!Directory.Exists(existing))
        {
            existing = Path.GetDirectoryName(existing)!;
        }

        var result = await RunProcess("runuser", ["-u", "postgres", "--", "test", "-x", existing], allowFailure: true, cancellationToken);
        return result.ExitCode == 0;
    }

    private static async Task<ProcessResult> RunProcess(string file, IReadOnlyList<string> arguments, bool allowFailure,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new LocalPostgresException($"Could not start {file}.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var result = new ProcessResult(process.ExitCode, await output, await error);
        if (result.ExitCode != 0 && !allowFailure)
        {
            throw new LocalPostgresException(
                $"{Path.GetFileName(file)} {string.Join(' ', arguments.Take(2))} failed with exit code {result.ExitCode}: {result.Error.Trim()}");
        }

        return result;
    }

    private static async Task<FileStream> AcquireLock(string path, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    private static string NewPassword() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(18));

    private sealed record ProcessResult(int ExitCode, string Output, string Error);
}

/// <summary>The private cluster could not be created or started; the message says what to do.</summary>
public sealed class LocalPostgresException(string message) : Exception(message);
