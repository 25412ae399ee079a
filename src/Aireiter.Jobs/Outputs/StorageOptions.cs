using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Outputs;

/// <summary>
/// Where output images are kept (section <c>Storage</c>). The upstream does not say how long its output
/// URLs live, so with an <see cref="OutputDirectory"/> every image is downloaded right after success.
/// </summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>Null: outputs are not downloaded. Relative paths are taken from the repository root (or working directory).</summary>
    public string? OutputDirectory { get; set; }

    public int MaxDownloadAttempts { get; set; } = 5;

    public TimeSpan DownloadTimeout { get; set; } = TimeSpan.FromSeconds(120);

    public TimeSpan DownloadRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    public int MaxConcurrentDownloads { get; set; } = 4;
}

public sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        var failures = new List<string>();
        if (options.MaxDownloadAttempts is < 1 or > 100)
        {
            failures.Add($"Storage:MaxDownloadAttempts must be between 1 and 100 (was {options.MaxDownloadAttempts}).");
        }

        if (options.DownloadTimeout < TimeSpan.FromMilliseconds(100))
        {
            failures.Add($"Storage:DownloadTimeout must be at least 00:00:00.1 (was {options.DownloadTimeout}).");
        }

        if (options.DownloadRetryDelay < TimeSpan.Zero)
        {
            failures.Add($"Storage:DownloadRetryDelay must not be negative (was {options.DownloadRetryDelay}).");
        }

        if (options.MaxConcurrentDownloads is < 1 or > 64)
        {
            failures.Add($"Storage:MaxConcurrentDownloads must be between 1 and 64 (was {options.MaxConcurrentDownloads}).");
        }

        if (options.OutputDirectory is { } dir && dir.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
        {
            failures.Add($"Storage:OutputDirectory '{dir}' is not a valid path.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
