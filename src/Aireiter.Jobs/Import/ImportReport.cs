using System.Text;

namespace Aireiter.Jobs.Import;

/// <summary>One line that was not imported, and why.</summary>
public sealed record LineProblem(long Line, string? Column, string Reason)
{
    public override string ToString() => Column is null ? $"line {Line}: {Reason}" : $"line {Line}, {Column}: {Reason}";
}

/// <summary>What an import did (or, for a dry run, would do).</summary>
public sealed class ImportReport
{
    public const int MaxProblemsKept = 1000;

    public required string File { get; init; }
    public required string BatchName { get; init; }
    public long? BatchId { get; set; }
    public bool DryRun { get; init; }
    public bool Strict { get; init; }

    /// <summary>The whole file was refused (empty, wrong delimiter, no prompt column, not UTF-8…); nothing was stored.</summary>
    public string? FileError { get; set; }

    /// <summary>Records read under the header (a quoted value may span lines; each is counted once, at its first line).</summary>
    public long Lines { get; set; }

    /// <summary>Empty lines, skipped.</summary>
    public long BlankLines { get; set; }
    public long Valid { get; set; }
    public long Inserted { get; set; }
    public long AlreadyPresent { get; set; }
    public long InvalidCount { get; set; }
    public List<LineProblem> Invalid { get; } = [];
    public List<LineProblem> Warnings { get; } = [];
    public List<string> Notes { get; } = [];

    /// <summary>Valid lines per "model resolution", with their estimated credits.</summary>
    public SortedDictionary<string, (long Count, decimal Credits)> PerModel { get; } = new(StringComparer.Ordinal);

    public decimal EstimatedCredits => PerModel.Values.Sum(v => v.Credits);

    /// <summary>True when nothing was stored because of <see cref="Strict"/> or a file-level error.</summary>
    public bool RolledBack { get; set; }

    /// <summary>How long reading, checking and storing took.</summary>
    public TimeSpan Elapsed { get; set; }

    public bool Succeeded => FileError is null && InvalidCount == 0;

    public void AddInvalid(LineProblem problem)
    {
        InvalidCount++;
        if (Invalid.Count < MaxProblemsKept)
        {
            Invalid.Add(problem);
        }
    }

    public string ToText()
    {
        var text = new StringBuilder();
        text.AppendLine($"{(DryRun ? "Dry run of" : "Import of")} {File} into batch '{BatchName}'");
        if (FileError is not null)
        {
            text.AppendLine($"The file was refused: {FileError}");
            return text.ToString();
        }

        text.AppendLine($"{Lines} lines: {Valid} valid, {InvalidCount} invalid{(BlankLines > 0 ? $" ({BlankLines} blank line{(BlankLines == 1 ? "" : "s")} skipped)" : "")}");
        if (!DryRun)
        {
            text.AppendLine(RolledBack
                ? "Nothing was stored (--strict and some lines were invalid)."
                : $"{Inserted} new, {AlreadyPresent} already present");
        }

        foreach (var (key, (count, credits)) in PerModel)
        {
            text.AppendLine($"  {key}: {count} request{(count == 1 ? "" : "s")}, ~{credits:0.##} credits");
        }

        text.AppendLine($"Estimated credits: ~{EstimatedCredits:0.##}");
        if (Elapsed > TimeSpan.Zero)
        {
            text.AppendLine($"Took {Elapsed.TotalSeconds:0.00} s ({Lines / Elapsed.TotalSeconds:0} lines/s)");
        }

        foreach (var note in Notes)
        {
            text.AppendLine($"Note: {note}");
        }

        foreach (var problem in Invalid)
        {
            text.AppendLine($"  invalid: {problem}");
        }

        if (InvalidCount > Invalid.Count)
        {
            text.AppendLine($"  … and {InvalidCount - Invalid.Count} more invalid lines");
        }

        foreach (var warning in Warnings.Take(50))
        {
            text.AppendLine($"  warning: {warning}");
        }

        return text.ToString();
    }
}

/// <summary>The file as a whole cannot be imported; the message says why and what to do.</summary>
public sealed class ImportFileException(string message) : Exception(message);
