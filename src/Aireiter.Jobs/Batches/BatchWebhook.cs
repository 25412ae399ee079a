using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Batches;

/// <summary>
/// Announces a finished batch with a POST of its figures to <c>Batches:WebhookUrl</c>, signed:
/// <c>X-Aireiter-Signature: sha256=&lt;hex HMAC-SHA256 of the body with Batches:WebhookSecret&gt;</c>, and
/// <c>X-Aireiter-Delivery</c> the same on every retry of one announcement, so a receiver can drop repeats.
/// Anything but a 2xx answer throws, and the job retries.
/// </summary>
public sealed partial class BatchWebhook(IHttpClientFactory http, IOptionsMonitor<BatchesOptions> options, ILogger<BatchWebhook> logger)
    : IBatchFinishedHandler
{
    public const string HttpClientName = "batch-webhook";

    public async Task HandleAsync(BatchProgress batch, string deliveryId, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        if (string.IsNullOrWhiteSpace(settings.WebhookUrl))
        {
            return;
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            @event = "batch.finished",
            batch = batch.Name,
            source = batch.Source,
            total = batch.Total,
            succeeded = batch.Count("succeeded"),
            failed = batch.Count("failed"),
            timedOut = batch.Count("timed_out"),
            cancelled = batch.Count("cancelled"),
            creditsUsed = batch.CreditsUsed,
            createdAt = batch.CreatedAt,
            finishedAt = batch.FinishedAt,
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, settings.WebhookUrl) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add("X-Aireiter-Signature", Sign(settings.WebhookSecret!, body));
        request.Headers.Add("X-Aireiter-Delivery", deliveryId);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.WebhookTimeout);
        using var response = await http.CreateClient(HttpClientName).SendAsync(request, timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"The batch webhook answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        }

        LogSent(batch.Name, new Uri(settings.WebhookUrl).Host, (int)response.StatusCode);
    }

    public static string Sign(string secret, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch {Batch}: webhook to {Host} answered {Status}")]
    private partial void LogSent(string batch, string host, int status);
}
