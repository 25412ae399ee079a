using System.Text.Json;

namespace Aireiter.Jobs.Batches;

/// <summary>A group of requests: a catalogue file, an API call or one nightly run.</summary>
public sealed class Batch
{
    public long Id { get; set; }
    public required string Name { get; set; }
    public string Source { get; set; } = "api";
    public string? SourceDetail { get; set; }
    public decimal? CreditBudget { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public JsonDocument? Summary { get; set; }
}
