using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Polling;

/// <summary>
/// When to ask the upstream about a running task (section <c>Aireiter:Polling</c>). The defaults are the
/// upstream's own advice: first query 10–20 s after submit, then every 3–5 s, give up after 180 s.
/// </summary>
public sealed class PollingOptions
{
    public const string Section = "Aireiter:Polling";

    public TimeSpan InitialDelayMin { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan InitialDelayMax { get; set; } = TimeSpan.FromSeconds(20);
    public TimeSpan IntervalMin { get; set; } = TimeSpan.FromSeconds(3);
    public TimeSpan IntervalMax { get; set; } = TimeSpan.FromSeconds(5);
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(180);

    /// <summary>How long a timed-out task is still checked for a late result and its credits.</summary>
    public TimeSpan ReconcileWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often a timed-out task is checked during <see cref="ReconcileWindow"/>.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Per-model overrides; any timing left unset falls back to the values above.</summary>
    public Dictionary<string, ModelPolling> Models { get; set; } = [];

    /// <summary>The timings for one model, with its overrides applied.</summary>
    public PollTimings For(string model)
    {
        var o = Models.GetValueOrDefault(model);
        return new PollTimings(
            o?.InitialDelayMin ?? InitialDelayMin, o?.InitialDelayMax ?? InitialDelayMax,
            o?.IntervalMin ?? IntervalMin, o?.IntervalMax ?? IntervalMax,
            o?.Deadline ?? Deadline);
    }
}

public sealed class ModelPolling
{
    public TimeSpan? InitialDelayMin { get; set; }
    public TimeSpan? InitialDelayMax { get; set; }
    public TimeSpan? IntervalMin { get; set; }
    public TimeSpan? IntervalMax { get; set; }
    public TimeSpan? Deadline { get; set; }
}

/// <summary>Resolved timings of one model.</summary>
public sealed record PollTimings(TimeSpan InitialDelayMin, TimeSpan InitialDelayMax, TimeSpan IntervalMin, TimeSpan IntervalMax, TimeSpan Deadline)
{
    public TimeSpan InitialDelay(Random random) => Between(InitialDelayMin, InitialDelayMax, random);

    public TimeSpan Interval(Random random) => Between(IntervalMin, IntervalMax, random);

    private static TimeSpan Between(TimeSpan min, TimeSpan max, Random random) =>
        min + TimeSpan.FromTicks((long)(random.NextDouble() * (max - min).Ticks));
}

public sealed class PollingOptionsValidator : IValidateOptions<PollingOptions>
{
    public ValidateOptionsResult Validate(string? name, PollingOptions options)
    {
        var failures = new List<string>();
        Check(failures, "Aireiter:Polling", options.For(""));
        foreach (var (model, _) in options.Models)
        {
            Check(failures, $"Aireiter:Polling:Models:{model}", options.For(model));
        }

        if (options.ReconcileWindow < TimeSpan.Zero)
        {
            failures.Add($"Aireiter:Polling:ReconcileWindow must not be negative (was {options.ReconcileWindow}).");
        }

        if (options.ReconcileInterval < TimeSpan.FromMilliseconds(100))
        {
            failures.Add($"Aireiter:Polling:ReconcileInterval must be at least 00:00:00.1 (was {options.ReconcileInterval}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, string prefix, PollTimings t)
    {
        if (t.InitialDelayMin < TimeSpan.Zero || t.InitialDelayMax < t.InitialDelayMin)
        {
            failures.Add($"{prefix}: InitialDelayMin ({t.InitialDelayMin}) must be at least 0 and at most InitialDelayMax ({t.InitialDelayMax}).");
        }

        if (t.IntervalMin < TimeSpan.FromMilliseconds(10) || t.IntervalMax < t.IntervalMin)
        {
            failures.Add($"{prefix}: IntervalMin ({t.IntervalMin}) must be at least 00:00:00.01 and at most IntervalMax ({t.IntervalMax}).");
        }

        if (t.Deadline <= t.InitialDelayMin)
        {
            failures.Add($"{prefix}: Deadline ({t.Deadline}) must be longer than InitialDelayMin ({t.InitialDelayMin}).");
        }
    }
}
