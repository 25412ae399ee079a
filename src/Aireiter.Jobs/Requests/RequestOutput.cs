namespace Aireiter.Jobs.Requests;

/// <summary>One result file of a request: the upstream URL and, when downloading is on, the stored copy.</summary>
public sealed class RequestOutput
{
    public long RequestId { get; set; }
    public int Position { get; set; }
    public required string Url { get; set; }
    public string DownloadState { get; set; } = "none";
    public int DownloadAttempts { get; set; }
    public DateTimeOffset? DownloadDueAt { get; set; }
    public string? DownloadError { get; set; }
    public string? ContentType { get; set; }
    public long? SizeBytes { get; set; }
    public string? Sha256 { get; set; }
    public string? StoredPath { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? DownloadedAt { get; set; }
}
