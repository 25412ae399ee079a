namespace Aireiter.Jobs.Import;

public enum ImportFormat
{
    /// <summary>From the file name: .jsonl/.ndjson is JSONL, anything else CSV.</summary>
    Auto,
    Csv,
    Jsonl,
}

/// <summary>How to read a catalogue file and what to fill in where it is silent.</summary>
public sealed record ImportOptions
{
    /// <summary>The batch the requests join; also the scope their out_task_ids are derived in.</summary>
    public required string BatchName { get; init; }

    public string BatchSource { get; init; } = "file";

    public decimal? BatchCreditBudget { get; init; }

    public ImportFormat Format { get; init; } = ImportFormat.Auto;

    /// <summary>CSV delimiter; null means a comma (and a clear error when the file obviously uses another).</summary>
    public string? Delimiter { get; init; }

    /// <summary>Values for the standard columns when a line leaves them empty: model, aspect_ratio, resolution, size, quality, web_search.</summary>
    public IReadOnlyDictionary<string, string> Defaults { get; init; } = new Dictionary<string, string>();

    /// <summary>Check everything and estimate credits; store nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>Store nothing unless every line is valid.</summary>
    public bool Strict { get; init; }

    /// <summary>Held until then (e.g. tonight at 01:00).</summary>
    public DateTimeOffset? NotBefore { get; init; }

    public short Priority { get; init; }
}
