using System.CommandLine;
using Aireiter.Jobs.AspNetCore;
using Aireiter.Jobs.Worker.Hosting;

namespace Aireiter.Jobs.Worker.Cli;

/// <summary>
/// What a verb does not recognise is taken as configuration (<c>--Section:Key=value</c> or
/// <c>--Section:Key value</c>), and only that: a mistyped option such as <c>--bacth night</c> would
/// otherwise become a setting nobody reads, and the file would be imported into another batch.
/// </summary>
public static class SettingOverrides
{
    /// <summary>The overrides, or null after telling the user what is wrong (exit with <see cref="ExitCodes.Setup"/>).</summary>
    public static string[]? From(ParseResult parse)
    {
        var tokens = parse.UnmatchedTokens;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var named = token.StartsWith('-') || token.StartsWith('/');
            var key = token.TrimStart('-', '/').Split('=', 2)[0];
            if (key.Contains(':', StringComparison.Ordinal) && (named || token.Contains('=', StringComparison.Ordinal)))
            {
                if (named && !token.Contains('=', StringComparison.Ordinal))
                {
                    i++; // --Section:Key value
                }

                continue;
            }

            var command = parse.CommandResult.Command;
            var options = command.Options.Where(o => !o.Hidden).Select(o => o.Name).Order(StringComparer.Ordinal).ToList();
            var meant = options.FirstOrDefault(o => SettingsCheck.LooksLike(o.TrimStart('-'), key));
            Console.Error.WriteLine(named
                ? $"'{token}' is not an option of '{command.Name}'{(meant is not null ? $" (did you mean '{meant}'?)" : "")}. " +
                  $"Its options: {string.Join(", ", options)}; settings are given as --Section:Key=value."
                : $"'{token}' is not expected here: '{command.Name}' takes {Arguments(command)}.");
            return null;
        }

        return tokens.ToArray();
    }

    private static string Arguments(Command command) =>
        command.Arguments.Count == 0 ? "no arguments" : string.Join(" ", command.Arguments.Select(a => a.Name.ToUpperInvariant()));
}
