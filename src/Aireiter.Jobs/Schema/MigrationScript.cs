using System.Security.Cryptography;
using System.Text;

namespace Aireiter.Jobs.Schema;

/// <summary>One versioned SQL file from <c>migrations/</c>: <c>0001_initial.sql</c> is version <c>0001</c>.</summary>
public sealed record MigrationScript(string Version, string FileName, string Sql)
{
    /// <summary>SHA-256 of the text with line endings normalised, so a checkout with CRLF is not an edit.</summary>
    public string Checksum { get; } = Convert.ToHexStringLower(
        SHA256.HashData(Encoding.UTF8.GetBytes(Sql.Replace("\r\n", "\n", StringComparison.Ordinal))));

    public static MigrationScript FromFile(string fileName, string sql)
    {
        var separator = fileName.IndexOf('_', StringComparison.Ordinal);
        if (separator <= 0 || !fileName.EndsWith(".sql", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException(
                $"Migration file '{fileName}' must be named VERSION_description.sql, for example 0002_add_index.sql.", nameof(fileName));
        }

        return new MigrationScript(fileName[..separator], fileName, sql);
    }

    /// <summary>The scripts embedded in this assembly at build time, in version order.</summary>
    public static IReadOnlyList<MigrationScript> Embedded()
    {
        var assembly = typeof(MigrationScript).Assembly;
        var scripts = new List<MigrationScript>();
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith("migrations/", StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            scripts.Add(FromFile(name["migrations/".Length..], reader.ReadToEnd()));
        }

        return Ordered(scripts);
    }

    public static IReadOnlyList<MigrationScript> Ordered(IEnumerable<MigrationScript> scripts)
    {
        var ordered = scripts.OrderBy(s => s.Version, StringComparer.Ordinal).ToList();
        var duplicate = ordered.GroupBy(s => s.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new MigrationException(
                $"Two migration files share version {duplicate.Key}: {string.Join(", ", duplicate.Select(s => s.FileName))}.");
        }

        return ordered;
    }
}

/// <summary>The schema cannot be brought up to date; the message says which file and what to do.</summary>
public sealed class MigrationException(string message, Exception? inner = null) : Exception(message, inner);
