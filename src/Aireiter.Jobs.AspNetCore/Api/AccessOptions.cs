using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>
/// Who may use <c>/api</c> and <c>/dashboard</c> (section <c>Access</c>). By default only requests from this
/// machine (loopback), like Hangfire's dashboard. Remote callers need an API key (<c>X-Api-Key</c> or
/// <c>Authorization: Bearer</c>) or dashboard credentials (HTTP Basic).
/// </summary>
public sealed class AccessOptions
{
    public const string Section = "Access";

    /// <summary>Requests from 127.0.0.1/::1 need no key or password.</summary>
    public bool AllowLoopback { get; set; } = true;

    /// <summary>API keys, as given or as "sha256:&lt;hex&gt;". Compared by hash in constant time; never logged or returned.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Dashboard users for remote access: "name:password" or "name:sha256:&lt;hex of password&gt;".</summary>
    public List<string> Users { get; set; } = [];

    /// <summary>Dashboard and loopback access may look but not act (retry, cancel, run, resume). API keys may still act.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>Largest JSON body accepted by the API.</summary>
    public long MaxBodyBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Largest catalogue upload accepted by the API.</summary>
    public long MaxImportBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// A catalogue upload larger than this is stored and imported by a Hangfire job (the API answers 202 with where to
    /// follow it) instead of within the request; smaller ones are imported at once, as is any dry run.
    /// </summary>
    public long BackgroundImportAboveBytes { get; set; } = 8L * 1024 * 1024;

    internal static byte[] Hash(string secret) =>
        secret.StartsWith("sha256:", StringComparison.Ordinal)
            ? Convert.FromHexString(secret["sha256:".Length..])
            : SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}

public sealed class AccessOptionsValidator : IValidateOptions<AccessOptions>
{
    public ValidateOptionsResult Validate(string? name, AccessOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.ApiKeys.Count; i++)
        {
            var key = options.ApiKeys[i];
            if (key.StartsWith("sha256:", StringComparison.Ordinal) ? key.Length != 7 + 64 : key.Length < 16)
            {
                failures.Add($"Access:ApiKeys:{i} must be at least 16 characters, or sha256: followed by 64 hex digits.");
            }
        }

        for (var i = 0; i < options.Users.Count; i++)
        {
            var parts = options.Users[i].Split(':', 2);
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length < 8)
            {
                failures.Add($"Access:Users:{i} must be name:password (a password of at least 8 characters) or name:sha256:<hex>.");
            }
        }

        if (options.MaxBodyBytes < 1024 || options.MaxImportBytes < 1024)
        {
            failures.Add("Access:MaxBodyBytes and Access:MaxImportBytes must be at least 1024.");
        }

        if (options.BackgroundImportAboveBytes < 0)
        {
            failures.Add($"Access:BackgroundImportAboveBytes must not be negative (was {options.BackgroundImportAboveBytes}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
