using System.ComponentModel.DataAnnotations.Schema;
using System.Security.Cryptography;
using System.Text;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Outputs;

/// <summary>
/// Downloads every output image of a succeeded request to <c>{OutputDirectory}/{batch}/{key or out_task_id}-{n}.{ext}</c>,
/// recording content type, size and SHA-256. Downloads have their own retries; a download that keeps failing is
/// marked failed with its error and never touches the request's own state. Claimed like everything else: a row
/// is taken by pushing its due time forward, so a node that dies mid-download leaves it due again.
/// </summary>
public sealed partial class OutputDownloader(
    IDbContextFactory<JobsDbContext> contexts,
    IHttpClientFactory clients,
    IOptionsMonitor<StorageOptions> storage,
    IOptionsMonitor<EngineOptions> engine,
    TimeProvider time,
    ILogger<OutputDownloader> logger) : BackgroundService
{
    public const string HttpClientName = "outputs";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var options = storage.CurrentValue;
            var wait = engine.CurrentValue.IdleTick;
            if (options.OutputDirectory is not null)
            {
                try
                {
                    var due = await Claim(options, stoppingToken);
                    await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = options.MaxConcurrentDownloads, CancellationToken = stoppingToken },
                        async (item, token) => await Download(item, options, token));
                    if (due.Count == options.MaxConcurrentDownloads * 4)
                    {
                        wait = TimeSpan.Zero;
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
                {
                    LogClaimFailed(ex.Message);
                    wait = TimeSpan.FromSeconds(2);
                }
            }
            else
            {
                wait = TimeSpan.FromSeconds(30);
            }

            await Task.Delay(wait, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task<List<DueOutput>> Claim(StorageOptions options, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Database.SqlQueryRaw<DueOutput>("""
                update request_outputs o
                set download_due_at = @lease, download_attempts = o.download_attempts + 1
                from (
                    select request_id, position from request_outputs
                    where download_state = 'pending' and download_due_at <= @now
                    order by download_due_at
                    limit @limit
                    for update skip locked
                ) due
                where o.request_id = due.request_id and o.position = due.position
                returning o.request_id, o.position, o.url, o.download_attempts as attempts,
                          (select b.name from generation_requests r join batches b on b.id = r.batch_id where r.id = o.request_id) as batch,
                          (select coalesce(r.item_key, r.out_task_id) from generation_requests r where r.id = o.request_id) as key
                """,
                new NpgsqlParameter("now", now), new NpgsqlParameter("lease", now + options.DownloadTimeout + TimeSpan.FromSeconds(30)),
                new NpgsqlParameter("limit", options.MaxConcurrentDownloads * 4))
            .ToListAsync(cancellationToken);
    }

    private async Task Download(DueOutput item, StorageOptions options, CancellationToken cancellationToken)
    {
        try
        {
            using var client = clients.CreateClient(HttpClientName);
            client.Timeout = options.DownloadTimeout;
            using var response = await client.GetAsync(new Uri(item.Url), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            response.EnsureSuccessStatusCode();
            var contentType = response.Content.Headers.ContentType?.MediaType ?? "application/octet-stream";
            var folder = Path.Combine(options.OutputDirectory!, SafeName(item.Batch ?? "no-batch"));
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, $"{SafeName(item.Key)}-{item.Position}.{Extension(contentType, item.Url)}");

            // Written beside the target and moved into place, so a half-written file never carries the final name.
            var partial = path + ".partial";
            long size;
            string sha256;
            await using (var source = await response.Content.ReadAsStreamAsync(cancellationToken))
            await using (var target = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[1 << 16];
                int read;
                size = 0;
                while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    size += read;
                }

                sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }

            File.Move(partial, path, overwrite: true);
            await Record(item, "stored", null, contentType, size, sha256, path, cancellationToken);
            LogStored(item.Key, item.Position, path, size);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or UnauthorizedAccessException
                                   && !cancellationToken.IsCancellationRequested)
        {
            var giveUp = item.Attempts >= options.MaxDownloadAttempts;
            var message = ex is TaskCanceledException ? $"no answer within {options.DownloadTimeout.TotalSeconds:0} s" : ex.Message;
            await Record(item, giveUp ? "failed" : "pending", $"attempt {item.Attempts}: {message}", null, null, null, null, cancellationToken,
                retryAt: giveUp ? null : time.GetUtcNow() + options.DownloadRetryDelay * item.Attempts);
            LogDownloadFailed(item.Key, item.Position, item.Attempts, message, giveUp);
        }
    }

    private async Task Record(DueOutput item, string state, string? error, string? contentType, long? size, string? sha256, string? path,
        CancellationToken cancellationToken, DateTimeOffset? retryAt = null)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.ExecuteSqlRawAsync("""
            update request_outputs
            set download_state = @state, download_error = @error, download_due_at = @retry,
                content_type = coalesce(@type, content_type), size_bytes = coalesce(@size, size_bytes), sha256 = coalesce(@sha, sha256),
                stored_path = coalesce(@path, stored_path), downloaded_at = case when @state = 'stored' then @now else downloaded_at end
            where request_id = @request and position = @position
            """,
            [
                new NpgsqlParameter("state", state),
                new NpgsqlParameter("error", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)error ?? DBNull.Value },
                new NpgsqlParameter("retry", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)retryAt ?? DBNull.Value },
                new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)contentType ?? DBNull.Value },
                new NpgsqlParameter("size", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)size ?? DBNull.Value },
                new NpgsqlParameter("sha", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)sha256 ?? DBNull.Value },
                new NpgsqlParameter("path", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)path ?? DBNull.Value },
                new NpgsqlParameter("now", time.GetUtcNow()),
                new NpgsqlParameter("request", item.RequestId),
                new NpgsqlParameter("position", item.Position),
            ], cancellationToken);
    }

    internal static string Extension(string contentType, string url) => contentType switch
    {
        "image/png" => "png",
        "image/jpeg" or "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => Path.GetExtension(new Uri(url).AbsolutePath).TrimStart('.') is { Length: > 0 and <= 5 } ext ? ext.ToLowerInvariant() : "bin",
    };

    /// <summary>A key or batch name as a file name: letters, digits, '-', '_' and '.' kept, anything else '_'.</summary>
    internal static string SafeName(string name)
    {
        var safe = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        }

        var text = safe.ToString().Trim('.');
        return text.Length == 0 ? "_" : text.Length > 100 ? text[..100] : text;
    }

    /// <summary>An output claimed for download, with the batch and key its file is named after.</summary>
    private sealed class DueOutput
    {
        [Column("request_id")] public long RequestId { get; init; }
        [Column("position")] public int Position { get; init; }
        [Column("url")] public required string Url { get; init; }
        [Column("attempts")] public int Attempts { get; init; }
        [Column("batch")] public string? Batch { get; init; }
        [Column("key")] public required string Key { get; init; }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Stored output {Key}-{Position} at {Path} ({Size} bytes)")]
    private partial void LogStored(string key, int position, string path, long size);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Download of output {Key}-{Position} failed (attempt {Attempt}): {Reason}; given up: {GaveUp}")]
    private partial void LogDownloadFailed(string key, int position, int attempt, string reason, bool gaveUp);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not claim outputs to download: {Reason}")]
    private partial void LogClaimFailed(string reason);
}
