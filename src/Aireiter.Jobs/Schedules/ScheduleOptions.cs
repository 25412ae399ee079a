using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Schedules;

/// <summary>The recurring imports (section <c>Schedules</c>, a list).</summary>
public sealed class SchedulesOptions
{
    public const string Section = "Schedules";

    public List<ScheduleOptions> Items { get; set; } = [];

    public ScheduleOptions? Find(string name) => Items.FirstOrDefault(s => s.Name == name);
}

/// <summary>One nightly (or other cron) run that imports every matching file in an inbox folder, one batch per file.</summary>
public sealed class ScheduleOptions
{
    public string Name { get; set; } = "";

    /// <summary>
    /// A cron expression: five fields ("0 1 * * *" for 01:00 every night), or six with seconds first ("0 0 1 * * ?").
    /// See <see cref="ScheduleCron"/>.
    /// </summary>
    public string Cron { get; set; } = "";

    public string TimeZone { get; set; } = "UTC";

    public string Inbox { get; set; } = "";

    public string Pattern { get; set; } = "*.csv";

    /// <summary>Where imported files go; default: {Inbox}/archive.</summary>
    public string? Archive { get; set; }

    /// <summary>Where refused files go, with a report beside them; default: {Inbox}/rejected.</summary>
    public string? Rejected { get; set; }

    /// <summary>Values for lines that leave them empty: model, aspect_ratio, resolution, size, quality, web_search.</summary>
    public Dictionary<string, string> Defaults { get; set; } = [];

    /// <summary>A credit budget for each batch this schedule creates; null for none.</summary>
    public decimal? CreditBudget { get; set; }

    public string? Delimiter { get; set; }

    /// <summary>
    /// A run missed while every node was down still fires (once) when the cluster is back within this long after its
    /// time; later than that, it is skipped and the next one waits for its own time.
    /// </summary>
    public TimeSpan MisfireWindow { get; set; } = TimeSpan.FromHours(1);

    public bool Enabled { get; set; } = true;

    public string ArchiveFolder => Archive ?? Path.Combine(Inbox, "archive");

    public string RejectedFolder => Rejected ?? Path.Combine(Inbox, "rejected");
}

public sealed partial class SchedulesOptionsValidator : IValidateOptions<SchedulesOptions>
{
    public ValidateOptionsResult Validate(string? name, SchedulesOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.Items.Count; i++)
        {
            var s = options.Items[i];
            var at = $"Schedules:{i}";
            if (!SafeName().IsMatch(s.Name))
            {
                failures.Add($"{at}:Name '{s.Name}' must be 1 to 40 letters, digits, '-' or '_'.");
            }
            else if (options.Items.Count(o => o.Name == s.Name) > 1)
            {
                failures.Add($"{at}:Name '{s.Name}' is used by more than one schedule.");
            }

            if (ScheduleCron.Problem(s.Cron) is { } cron)
            {
                failures.Add($"{at}:Cron '{s.Cron}' {cron}.");
            }

            if (!TimeZoneInfo.TryFindSystemTimeZoneById(s.TimeZone, out _))
            {
                failures.Add($"{at}:TimeZone '{s.TimeZone}' is not a known time zone (e.g. Europe/Berlin).");
            }

            if (string.IsNullOrWhiteSpace(s.Inbox))
            {
                failures.Add($"{at}:Inbox must name the folder to import from.");
            }

            if (string.IsNullOrWhiteSpace(s.Pattern) || s.Pattern.Contains('/', StringComparison.Ordinal))
            {
                failures.Add($"{at}:Pattern '{s.Pattern}' must be a file name pattern such as *.csv.");
            }

            if (s.MisfireWindow < TimeSpan.Zero)
            {
                failures.Add($"{at}:MisfireWindow must not be negative (was {s.MisfireWindow}).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,40}$")]
    private static partial Regex SafeName();
}
