using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;

namespace Aireiter.Jobs.Tests.Catalogues;

/// <summary>A finished batch is announced by a Hangfire job: a log line and a signed webhook to a real HTTP listener.</summary>
public sealed class BatchFinishedTests
{
    private const string Secret = "webhook-secret-NEVER-LOGGED-77";

    [Fact]
    public async Task AFinishedBatch_IsAnnouncedOnce_ByAHangfireJob_WithASignedWebhook()
    {
        var port = FreePort.Next();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        listener.Start();
        var received = new ConcurrentQueue<(string Signature, string Delivery, byte[] Body)>();
        var listening = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (HttpListenerException)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                received.Enqueue((context.Request.Headers["X-Aireiter-Signature"] ?? "", context.Request.Headers["X-Aireiter-Delivery"] ?? "", body.ToArray()));
                context.Response.StatusCode = 204;
                context.Response.Close();
            }
        });

        await using var harness = await EngineHarness.StartAsync("batch-webhook", EngineHarness.FastSimulator(),
            ("Batches:WebhookUrl", $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/hooks/batch"),
            ("Batches:WebhookSecret", Secret), ("Engine:BatchSweepInterval", "00:00:00.500"));
        var a = await harness.StartWorkerAsync("node-a");
        var b = await harness.StartWorkerAsync("node-b");
        var batch = await harness.ScalarAsync("insert into batches (name, source) values ('spring', 'api') returning id");
        await harness.Enqueuer.EnqueueAsync(Enumerable.Range(0, 3).Select(i => EngineHarness.Request($"SPRING-{i}") with { BatchId = batch }).ToList(),
            "spring", CancellationToken.None);

        // The announcement is timed from the batch's end, not from its start. On a loaded machine a submit can go unanswered
        // past its 2 s attempt timeout or outlive its 2 s lease, and the engine then checks upstream before any resubmit:
        // in one suite run the three requests were final 25 s after the enqueue, and the 30 s wait ran out.
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(90));
        await harness.WaitUntilAsync(() => Task.FromResult(!received.IsEmpty), TimeSpan.FromSeconds(30), "the webhook called");
        var (signature, delivery, body) = Assert.Single(received);
        Assert.Equal(BatchWebhook.Sign(Secret, body), signature);
        Assert.False(string.IsNullOrEmpty(delivery));
        var json = System.Text.Json.JsonDocument.Parse(body).RootElement;
        Assert.Equal("batch.finished", json.GetProperty("event").GetString());
        Assert.Equal("spring", json.GetProperty("batch").GetString());
        Assert.Equal(3, json.GetProperty("total").GetInt64());
        Assert.Equal(3, json.GetProperty("succeeded").GetInt64());

        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
                "select count(*) from hangfire.job where statename = 'Succeeded' and invocationdata::text like '%BatchFinishedJob%'") == 1,
            TimeSpan.FromSeconds(10), "the job recorded as succeeded");
        // Its start and end, read from the counters, are its requests' first submit and last completion.
        var progress = (await harness.Batches.ProgressAsync(batch, CancellationToken.None))!;
        var firstSubmit = await harness.ScalarAsync(
            $"select extract(epoch from min(submitted_at)) * 1000000 from generation_requests where batch_id = {batch}");
        var lastCompletion = await harness.ScalarAsync(
            $"select extract(epoch from max(completed_at)) * 1000000 from generation_requests where batch_id = {batch}");
        Assert.Equal(DateTimeOffset.UnixEpoch.AddTicks(firstSubmit * 10), progress.FirstSubmittedAt);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddTicks(lastCompletion * 10), progress.LastCompletedAt);
        Assert.True(progress.FirstSubmittedAt < progress.LastCompletedAt);

        var output = a.Output.Concat(b.Output).ToList();
        Assert.Single(output, l => l.Contains("Batch spring is done: 3 requests, 3 succeeded", StringComparison.Ordinal));
        Assert.DoesNotContain(output, l => l.Contains(Secret, StringComparison.Ordinal));
        // Two nodes sweep for finished batches: still one announcement.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Single(received);
        listener.Stop();
        await listening;
    }
}
