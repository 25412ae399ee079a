using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Worker.LocalDatabase;

/// <summary>
/// The private PostgreSQL cluster used when <c>ConnectionStrings:Jobs</c> is not set
/// (section <c>EmbeddedDatabase</c>).
/// </summary>
public sealed class EmbeddedDatabaseOptions
{
    public const string Section = "EmbeddedDatabase";

    /// <summary>Relative paths are taken from the repository root (the folder holding Aireiter.Jobs.sln).</summary>
    public string DataDirectory { get; set; } = ".data/postgres";

    public int Port { get; set; } = 55432;

    /// <summary>Where initdb and pg_ctl are; found in /usr/lib/postgresql/*/bin or on PATH when empty.</summary>
    public string? BinDirectory { get; set; }

    public string Database { get; set; } = "aireiter_jobs";
}

public sealed class EmbeddedDatabaseOptionsValidator : IValidateOptions<EmbeddedDatabaseOptions>
{
    public ValidateOptionsResult Validate(string? name, EmbeddedDatabaseOptions options)
    {
        var failures = new List<string>();
        if (options.Port is < 1024 or > 65535)
        {
            failures.Add($"EmbeddedDatabase:Port must be between 1024 and 65535 (was {options.Port}).");
        }

        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            failures.Add("EmbeddedDatabase:DataDirectory must name a folder.");
        }

        if (string.IsNullOrWhiteSpace(options.Database) || options.Database.Length > 63)
        {
            failures.Add($"EmbeddedDatabase:Database must be a database name of 1 to 63 characters (was '{options.Database}').");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
