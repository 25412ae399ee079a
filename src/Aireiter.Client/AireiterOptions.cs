using Microsoft.Extensions.Options;

namespace Aireiter.Client;

/// <summary>How to reach the upstream API (section <c>Aireiter</c>). The key is never printed.</summary>
public sealed class AireiterOptions
{
    public const string Section = "Aireiter";

    public Uri BaseUrl { get; set; } = new("https://aireiter.com");

    /// <summary>Bearer key; from the environment or a secret store, never from a committed file.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Sent on every call: the upstream's CDN is reported to reject library default agents.</summary>
    public string UserAgent { get; set; } = "Aireiter.Jobs/1.0 (+https://aireiter.com)";

    /// <summary>Time allowed for one HTTP attempt, submit or query.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries of a query after a transient fault. Submits are never retried by the client.</summary>
    public int QueryRetries { get; set; } = 3;

    public TimeSpan QueryRetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait honoured from a <c>Retry-After</c> header inside one query call.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Client-side limit on submit calls from this process, per second.</summary>
    public double SubmitsPerSecond { get; set; } = 10;

    public CircuitBreakerSettings CircuitBreaker { get; set; } = new();

    public override string ToString() =>
        $"Aireiter {{ BaseUrl = {BaseUrl}, ApiKey = {(string.IsNullOrEmpty(ApiKey) ? "(none)" : "(set)")} }}";
}

/// <summary>When to stop calling an upstream that keeps failing, and for how long.</summary>
public sealed class CircuitBreakerSettings
{
    public double FailureRatio { get; set; } = 0.5;
    public int MinimumThroughput { get; set; } = 20;
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);
}

public sealed class AireiterOptionsValidator : IValidateOptions<AireiterOptions>
{
    public ValidateOptionsResult Validate(string? name, AireiterOptions options)
    {
        var failures = new List<string>();
        if (options.BaseUrl is not { IsAbsoluteUri: true } url || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            failures.Add($"Aireiter:BaseUrl must be an absolute http(s) URL (was '{options.BaseUrl}').");
        }

        if (options.ApiKey is { } key && (key.Trim() != key || key.Any(char.IsControl)))
        {
            failures.Add("Aireiter:ApiKey has leading/trailing spaces or control characters; copy it again.");
        }

        if (string.IsNullOrWhiteSpace(options.UserAgent))
        {
            failures.Add("Aireiter:UserAgent must not be empty.");
        }

        Range(failures, "Aireiter:AttemptTimeout", options.AttemptTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10));
        Range(failures, "Aireiter:QueryRetryBaseDelay", options.QueryRetryBaseDelay, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        Range(failures, "Aireiter:MaxRetryAfter", options.MaxRetryAfter, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        Range(failures, "Aireiter:CircuitBreaker:SamplingDuration", options.CircuitBreaker.SamplingDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1));
        Range(failures, "Aireiter:CircuitBreaker:BreakDuration", options.CircuitBreaker.BreakDuration, TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1));

        if (options.QueryRetries is < 0 or > 10)
        {
            failures.Add($"Aireiter:QueryRetries must be between 0 and 10 (was {options.QueryRetries}).");
        }

        if (options.SubmitsPerSecond is <= 0 or > 10_000)
        {
            failures.Add($"Aireiter:SubmitsPerSecond must be above 0 and at most 10000 (was {options.SubmitsPerSecond}).");
        }

        if (options.CircuitBreaker.FailureRatio is <= 0 or > 1)
        {
            failures.Add($"Aireiter:CircuitBreaker:FailureRatio must be above 0 and at most 1 (was {options.CircuitBreaker.FailureRatio}).");
        }

        if (options.CircuitBreaker.MinimumThroughput < 2)
        {
            failures.Add($"Aireiter:CircuitBreaker:MinimumThroughput must be at least 2 (was {options.CircuitBreaker.MinimumThroughput}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Range(List<string> failures, string key, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            failures.Add($"{key} must be between {min} and {max} (was {value}).");
        }
    }
}
