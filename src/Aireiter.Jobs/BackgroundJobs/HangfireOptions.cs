using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.BackgroundJobs;

/// <summary>
/// How this node runs Hangfire (section <c>Hangfire</c>). Hangfire carries tens of jobs a minute here (schedules,
/// uploads, notifications, housekeeping), never per-request work, so the defaults favour a quiet database over a
/// fast pick-up: an idle node's Hangfire server costs well under one statement a second.
/// </summary>
public sealed class HangfireOptions
{
    public const string Section = "Hangfire";

    /// <summary>Workers on this node's Hangfire server.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>
    /// How often an idle worker looks for a queued job. With <see cref="LongPolling"/> a queued job wakes a worker at once,
    /// so this is only the fallback.
    /// </summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Workers wait on PostgreSQL's LISTEN/NOTIFY for new jobs instead of relying on the poll alone.</summary>
    public bool LongPolling { get; set; } = true;

    /// <summary>
    /// How often schedules and delayed jobs (retries among them) are checked: the precision of a schedule. Each check
    /// is two locked transactions of some six statements, the largest part of an idle node's Hangfire cost.
    /// </summary>
    public TimeSpan SchedulePollingInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a job fetched by a node that then died stays invisible before another node runs it again. The running
    /// node keeps extending it (sliding), so a long import is never run twice while its node lives.
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often this node's server tells the others (and the Servers page) it is alive.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a silent server stays on the Servers page before it is removed.</summary>
    public TimeSpan ServerTimeout { get; set; } = TimeSpan.FromMinutes(2);
}

public sealed class HangfireOptionsValidator : IValidateOptions<HangfireOptions>
{
    public ValidateOptionsResult Validate(string? name, HangfireOptions options)
    {
        var failures = new List<string>();
        if (options.Workers is < 1 or > 100)
        {
            failures.Add($"Hangfire:Workers must be between 1 and 100 (was {options.Workers}).");
        }

        Between(failures, "QueuePollInterval", options.QueuePollInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(5));
        Between(failures, "SchedulePollingInterval", options.SchedulePollingInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        Between(failures, "InvisibilityTimeout", options.InvisibilityTimeout, TimeSpan.FromSeconds(2), TimeSpan.FromHours(2));
        Between(failures, "HeartbeatInterval", options.HeartbeatInterval, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
        if (options.ServerTimeout < options.HeartbeatInterval * 2)
        {
            failures.Add($"Hangfire:ServerTimeout must be at least twice Hangfire:HeartbeatInterval ({options.HeartbeatInterval}) (was {options.ServerTimeout}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Between(List<string> failures, string setting, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            failures.Add($"Hangfire:{setting} must be between {min} and {max} (was {value}).");
        }
    }
}
