using Cronos;

namespace Aireiter.Jobs.Schedules;

/// <summary>
/// A schedule's cron expression, read the way Hangfire reads it: five fields, or six with seconds first. The
/// six-field expressions written for the earlier scheduler (<c>0 0 1 * * ?</c>) keep their meaning, except a
/// day-of-week given as a number: that scheduler counted 1 = Sunday, Hangfire counts 0 = Sunday, so such an
/// expression is refused with the name to write instead of being run on the wrong day.
/// </summary>
public static class ScheduleCron
{
    private static readonly string[] DayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    /// <summary>Null when the expression is fine; otherwise why not, in one sentence.</summary>
    public static string? Problem(string expression)
    {
        var fields = expression.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length is not (5 or 6))
        {
            return fields.Length == 7
                ? "has a year field; Hangfire takes five fields, or six with seconds first"
                : "must have five fields (minute hour day month weekday), or six with seconds first";
        }

        if (fields.Length == 6 && QuartzWeekday(fields[5]) is { } quartz)
        {
            return $"gives the weekday as a number ({fields[5]}); the earlier scheduler counted 1 = Sunday and Hangfire counts 0 = Sunday, "
                   + $"so write its name instead (e.g. {quartz})";
        }

        try
        {
            _ = Parse(expression);
            return null;
        }
        catch (CronFormatException ex)
        {
            return ex.Message;
        }
    }

    public static CronExpression Parse(string expression)
    {
        var seconds = expression.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Length == 6;
        return CronExpression.Parse(expression, seconds ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }

    /// <summary>The next time at or after <paramref name="from"/>, in the schedule's zone; null if there is none.</summary>
    public static DateTimeOffset? Next(string expression, TimeZoneInfo zone, DateTimeOffset from) =>
        Parse(expression).GetNextOccurrence(from, zone, inclusive: true);

    /// <summary>For a six-field day-of-week that contains a digit, the same days by name in the old counting; else null.</summary>
    private static string? QuartzWeekday(string field)
    {
        if (!field.Any(char.IsAsciiDigit))
        {
            return null;
        }

        var named = System.Text.RegularExpressions.Regex.Replace(field, "(?<!#)[1-7]",
            m => DayNames[(m.Value[0] - '1') % 7]);
        return named;
    }
}
