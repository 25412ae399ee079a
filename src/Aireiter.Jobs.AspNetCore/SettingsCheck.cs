using Aireiter.Jobs.Batches;
using Aireiter.Jobs.BackgroundJobs;
using System.Collections;
using System.Reflection;
using Aireiter.Client;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Outputs;
using Aireiter.Jobs.Polling;
using Aireiter.Jobs.Schedules;
using Aireiter.Jobs.AspNetCore.Api;

namespace Aireiter.Jobs.AspNetCore;

/// <summary>
/// Finds settings in the product's own sections that no option has (<c>Engine:MaxConcurentSubmits</c> would
/// otherwise be ignored, and the node would run with the default its operator meant to change) or whose value
/// cannot be read as its type, before anything starts. Other top-level keys are not checked, since the
/// environment (or the app hosting the engine) brings many of its own.
/// </summary>
public static class SettingsCheck
{
    private static readonly (string Section, Type Options)[] EngineSections =
    [
        (AireiterOptions.Section, typeof(AireiterOptions)),
        (PollingOptions.Section, typeof(PollingOptions)),
        (EngineOptions.Section, typeof(EngineOptions)),
        (ClusterOptions.Section, typeof(ClusterOptions)),
        (HangfireOptions.Section, typeof(HangfireOptions)),
        (BatchesOptions.Section, typeof(BatchesOptions)),
        (AccessOptions.Section, typeof(AccessOptions)),
        (StorageOptions.Section, typeof(StorageOptions)),
        (SchedulesOptions.Section, typeof(List<ScheduleOptions>)),
    ];

    /// <summary>
    /// Stops start-up (<see cref="SettingsException"/>) with a line that names every unknown setting (and what it
    /// probably meant) in the engine's sections of <paramref name="configuration"/> and the host's <paramref name="more"/>.
    /// </summary>
    public static void Check(IConfiguration configuration, params (string Section, Type Options)[] more)
    {
        (string Section, Type Options)[] sections = [.. EngineSections, .. more];
        var unknown = new List<string>();
        foreach (var (section, type) in sections)
        {
            // Aireiter:Polling is a section of its own, bound to PollingOptions.
            Walk(configuration.GetSection(section), type, unknown, skip: section == AireiterOptions.Section ? "Polling" : null);
        }

        if (unknown.Count > 0)
        {
            throw new SettingsException($"Unknown setting{(unknown.Count == 1 ? "" : "s")}: {string.Join("; ", unknown)}.");
        }

        foreach (var (section, type) in sections)
        {
            try
            {
                configuration.GetSection(section).Get(type);
            }
            catch (InvalidOperationException ex) when (IsConversionFailure(ex))
            {
                throw new SettingsException($"A setting is wrong: {ConversionFailure(ex, sections)}");
            }
        }
    }

    /// <summary>The configuration binder's "Failed to convert configuration value 'soon' at 'Engine:IdleTick' to type 'System.TimeSpan'".</summary>
    private static bool IsConversionFailure(InvalidOperationException exception) =>
        exception.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal);

    /// <summary>The names of an enum used by a setting (the binder gives its full type name), or null when it is no enum.</summary>
    private static string[]? EnumNamed(string typeName, (string Section, Type Options)[] sections)
    {
        var type = sections.SelectMany(s => TypesUnder(s.Options, 0)).FirstOrDefault(t => t.FullName == typeName);
        return type is { IsEnum: true } ? Enum.GetNames(type) : null;
    }

    private static IEnumerable<Type> TypesUnder(Type type, int depth)
    {
        var value = Nullable.GetUnderlyingType(type) ?? type;
        yield return value;
        if (depth > 4 || IsValue(value))
        {
            yield break;
        }

        var children = ElementType(value) is { } element ? [element] : Properties(value).Select(p => p.PropertyType);
        foreach (var child in children.SelectMany(c => TypesUnder(c, depth + 1)))
        {
            yield return child;
        }
    }

    /// <summary>The key and what it must be, without the value given (a setting's value can be a secret).</summary>
    private static string ConversionFailure(InvalidOperationException exception, (string Section, Type Options)[] sections)
    {
        var match = System.Text.RegularExpressions.Regex.Match(exception.Message, "at '(?<key>[^']+)' to type '(?<type>[^']+)'");
        if (!match.Success)
        {
            return "a setting has a value of the wrong type.";
        }

        var expected = match.Groups["type"].Value switch
        {
            "System.TimeSpan" => "a duration such as 00:00:05",
            "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
            "System.Double" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            "System.Uri" => "a URL",
            var other when EnumNamed(other, sections) is { } names => $"one of {string.Join(", ", names)}",
            var other => $"a {other}",
        };
        return $"{match.Groups["key"].Value} must be {expected}.";
    }

    private static void Walk(IConfigurationSection section, Type type, List<string> unknown, string? skip = null)
    {
        foreach (var child in section.GetChildren())
        {
            if (child.Key == skip)
            {
                continue;
            }

            if (ElementType(type) is { } element)
            {
                // A list's indices or a dictionary's keys are the user's own; their values are checked.
                WalkValue(child, element, unknown);
                continue;
            }

            var property = Properties(type).FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                var meant = Properties(type).Select(p => p.Name).FirstOrDefault(name => LooksLike(name, child.Key));
                unknown.Add($"'{child.Path}' is not a setting{(meant is not null ? $" (did you mean '{section.Path}:{meant}'?)" : "")}");
                continue;
            }

            WalkValue(child, property.PropertyType, unknown);
        }
    }

    /// <summary>One setting's value: a single value has nothing under it; an object's settings are walked in turn.</summary>
    private static void WalkValue(IConfigurationSection section, Type type, List<string> unknown)
    {
        if (!IsValue(type))
        {
            Walk(section, type, unknown);
        }
        else if (section.GetChildren().Any())
        {
            unknown.Add($"'{section.Path}' is a single value, but has settings under it");
        }
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() is var generic)
        {
            if (generic == typeof(Dictionary<,>) || generic == typeof(IDictionary<,>) || generic == typeof(IReadOnlyDictionary<,>))
            {
                return type.GetGenericArguments()[1];
            }

            if (generic == typeof(List<>) || generic == typeof(IList<>) || generic == typeof(IReadOnlyList<>) || generic == typeof(HashSet<>))
            {
                return type.GetGenericArguments()[0];
            }
        }

        return null;
    }

    private static bool IsValue(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(Uri)
               || t == typeof(DateTimeOffset) || t == typeof(DateTime) || t == typeof(Guid) || (!typeof(IEnumerable).IsAssignableFrom(t) && !t.IsClass);
    }

    private static IEnumerable<PropertyInfo> Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || !IsValue(p.PropertyType));

    /// <summary>The same name but for case, underscores or dashes, or one or two letters.</summary>
    public static bool LooksLike(string name, string given)
    {
        static string Loose(string s) => s.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).ToUpperInvariant();
        var (a, b) = (Loose(name), Loose(given));
        return a == b || Distance(a, b) <= 2;
    }

    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }
}

/// <summary>A setting of the engine that does not exist or cannot be read; the message names it, never its value.</summary>
public sealed class SettingsException(string message) : Exception(message);
