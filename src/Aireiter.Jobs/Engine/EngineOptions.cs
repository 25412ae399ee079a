using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Engine;

/// <summary>How this node claims and works requests, and the limits the cluster holds (section <c>Engine</c>).</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>Submits this node runs at once.</summary>
    public int MaxConcurrentSubmits { get; set; } = 8;

    /// <summary>
    /// Polls this node runs at once. The documented timings (a poll every 3-5 s) make 10,000 tasks in flight
    /// about 2,500 polls a second; at an upstream answer time of 20 ms that needs about 50 at once.
    /// </summary>
    public int MaxConcurrentPolls { get; set; } = 64;

    /// <summary>
    /// Polls first: while this node's poller has no free slot and its polls start later than this (smoothed over
    /// the last few), the node submits nothing new. A task in flight is paid for and has a deadline; a queued one
    /// can wait. When a cohort of tasks completes and as many new ones would be submitted at once, the database
    /// keeps up with the polls instead. Zero turns it off.
    /// </summary>
    public TimeSpan PollsFirstAbove { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Wait between claim rounds when no notification arrives, while there is work about.</summary>
    public TimeSpan IdleTick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// When rounds keep finding nothing, the wait doubles up to this, so an idle node costs the database little.
    /// New work wakes the node at once (LISTEN/NOTIFY), and a quiet node reads when the next queued or running
    /// row is due and sleeps until then; this bounds only what arrives with neither (a lost notification).
    /// </summary>
    public TimeSpan IdleTickMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a claim holds a row. Renewed while the work goes on; a dead node's rows come back after it.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often each node looks for expired submit leases. With the 30 s lease, a dead node's submits are back
    /// within a minute.
    /// </summary>
    public TimeSpan LeaseSweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Submit attempts before a request fails for good (account pauses do not count).</summary>
    public int MaxSubmitAttempts { get; set; } = 8;

    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Wait after an ambiguous submit before asking the upstream whether the task exists.</summary>
    public TimeSpan AmbiguityDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>While submitting is paused for a bad key or no credits, one request is tried this often.</summary>
    public TimeSpan PauseProbeInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long request events are kept (an hourly Hangfire recurring job prunes older ones).</summary>
    public TimeSpan EventRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often finished batches are looked for, to record their end and summary.</summary>
    public TimeSpan BatchSweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Longest prompt accepted, in characters. The upstream documents no limit; 32,000 is what OpenAI's image
    /// models take, far beyond any product description, and refuses a pasted file or a runaway export column
    /// before it is stored and paid for.
    /// </summary>
    public int MaxPromptLength { get; set; } = 32_000;

    /// <summary>Per-model overrides of <see cref="MaxPromptLength"/>.</summary>
    public Dictionary<string, int> MaxPromptLengthPerModel { get; set; } = [];

    public int MaxPromptLengthFor(string model) =>
        MaxPromptLengthPerModel.TryGetValue(model, out var limit) ? limit : MaxPromptLength;

    public LimitOptions Limits { get; set; } = new();

    public CallbackOptions Callbacks { get; set; } = new();
}

/// <summary>Limits held across the whole cluster, in the database.</summary>
public sealed class LimitOptions
{
    /// <summary>Tasks submitting or running at once, across all nodes.</summary>
    public int MaxInFlight { get; set; } = 1000;

    /// <summary>Per-model caps on tasks in flight.</summary>
    public Dictionary<string, int> MaxInFlightPerModel { get; set; } = [];

    /// <summary>Submits per second across all nodes; sends are spaced 1/rate apart.</summary>
    public double SubmitsPerSecond { get; set; } = 5;

    /// <summary>Credits per day (estimated in flight + used today); null for none.</summary>
    public decimal? DailyCreditBudget { get; set; }

    /// <summary>Where "today" starts for the daily budget (an IANA or Windows time zone id).</summary>
    public string BudgetTimeZone { get; set; } = "UTC";

    /// <summary>What a request not yet priced by the upstream is assumed to cost.</summary>
    public decimal FallbackEstimatedCredits { get; set; } = 10;

    /// <summary>
    /// Expected credits by "model@resolution" or "model", for dry runs. The upstream publishes no price
    /// table, so these are yours to fill in from your invoices; anything missing counts
    /// <see cref="FallbackEstimatedCredits"/>.
    /// </summary>
    public Dictionary<string, decimal> EstimatedCredits { get; set; } = [];

    public decimal EstimateFor(string model, string? resolution) =>
        resolution is not null && EstimatedCredits.TryGetValue($"{model}@{resolution}", out var exact) ? exact
        : EstimatedCredits.TryGetValue(model, out var byModel) ? byModel
        : FallbackEstimatedCredits;
}

/// <summary>Callbacks from the upstream, for models that accept <c>callback_url</c>.</summary>
public sealed class CallbackOptions
{
    /// <summary>This cluster's address as the upstream reaches it, e.g. https://jobs.example.com. Null: no callbacks.</summary>
    public Uri? PublicBaseUrl { get; set; }

    /// <summary>Signs each request's callback URL; the same on every node. Required with <see cref="PublicBaseUrl"/>.</summary>
    public string? Secret { get; set; }
}

public sealed class EngineOptionsValidator : IValidateOptions<EngineOptions>
{
    public ValidateOptionsResult Validate(string? name, EngineOptions o)
    {
        var failures = new List<string>();
        if (o.MaxConcurrentSubmits is < 1 or > 1000)
        {
            failures.Add($"Engine:MaxConcurrentSubmits must be between 1 and 1000 (was {o.MaxConcurrentSubmits}).");
        }

        if (o.MaxConcurrentPolls is < 1 or > 10_000)
        {
            failures.Add($"Engine:MaxConcurrentPolls must be between 1 and 10000 (was {o.MaxConcurrentPolls}).");
        }

        Range(failures, "Engine:PollsFirstAbove", o.PollsFirstAbove, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        Range(failures, "Engine:IdleTick", o.IdleTick, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        Range(failures, "Engine:IdleTickMax", o.IdleTickMax, o.IdleTick, TimeSpan.FromMinutes(5));
        Range(failures, "Engine:LeaseDuration", o.LeaseDuration, TimeSpan.FromMilliseconds(300), TimeSpan.FromHours(1));
        Range(failures, "Engine:LeaseSweepInterval", o.LeaseSweepInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        Range(failures, "Engine:RetryBaseDelay", o.RetryBaseDelay, TimeSpan.Zero, TimeSpan.FromHours(1));
        Range(failures, "Engine:RetryMaxDelay", o.RetryMaxDelay, o.RetryBaseDelay, TimeSpan.FromDays(1));
        Range(failures, "Engine:AmbiguityDelay", o.AmbiguityDelay, TimeSpan.Zero, TimeSpan.FromHours(1));
        Range(failures, "Engine:PauseProbeInterval", o.PauseProbeInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1));
        Range(failures, "Engine:BatchSweepInterval", o.BatchSweepInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        Range(failures, "Engine:EventRetention", o.EventRetention, TimeSpan.FromHours(1), TimeSpan.FromDays(3650));

        if (o.MaxSubmitAttempts is < 1 or > 100)
        {
            failures.Add($"Engine:MaxSubmitAttempts must be between 1 and 100 (was {o.MaxSubmitAttempts}).");
        }

        if (o.MaxPromptLength is < 1 or > 1_000_000)
        {
            failures.Add($"Engine:MaxPromptLength must be between 1 and 1000000 (was {o.MaxPromptLength}).");
        }

        foreach (var (model, limit) in o.MaxPromptLengthPerModel.Where(p => p.Value is < 1 or > 1_000_000))
        {
            failures.Add($"Engine:MaxPromptLengthPerModel:{model} must be between 1 and 1000000 (was {limit}).");
        }

        if (o.Limits.MaxInFlight < 1)
        {
            failures.Add($"Engine:Limits:MaxInFlight must be at least 1 (was {o.Limits.MaxInFlight}).");
        }

        foreach (var (model, limit) in o.Limits.MaxInFlightPerModel.Where(p => p.Value < 1))
        {
            failures.Add($"Engine:Limits:MaxInFlightPerModel:{model} must be at least 1 (was {limit}).");
        }

        if (o.Limits.SubmitsPerSecond is <= 0 or > 10_000)
        {
            failures.Add($"Engine:Limits:SubmitsPerSecond must be above 0 and at most 10000 (was {o.Limits.SubmitsPerSecond}).");
        }

        if (o.Limits.DailyCreditBudget is < 0)
        {
            failures.Add($"Engine:Limits:DailyCreditBudget must not be negative (was {o.Limits.DailyCreditBudget}).");
        }

        if (o.Limits.FallbackEstimatedCredits <= 0)
        {
            failures.Add($"Engine:Limits:FallbackEstimatedCredits must be above 0 (was {o.Limits.FallbackEstimatedCredits}).");
        }

        if (!TimeZoneInfo.TryFindSystemTimeZoneById(o.Limits.BudgetTimeZone, out _))
        {
            failures.Add($"Engine:Limits:BudgetTimeZone '{o.Limits.BudgetTimeZone}' is not a known time zone.");
        }

        if (o.Callbacks.PublicBaseUrl is { } url)
        {
            if (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            {
                failures.Add($"Engine:Callbacks:PublicBaseUrl must be an absolute http(s) URL (was '{url}').");
            }

            if (string.IsNullOrWhiteSpace(o.Callbacks.Secret) || o.Callbacks.Secret.Length < 16)
            {
                failures.Add("Engine:Callbacks:Secret must be set, at least 16 characters and the same on every node, when Engine:Callbacks:PublicBaseUrl is set.");
            }
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
