using System.Text.Json.Nodes;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;

namespace Aireiter.Jobs.Tests.Hosting;

/// <summary>Traces pushed over OTLP from a real worker to a real (loopback) collector, read span by span.</summary>
public sealed class TracesTests
{
    [Fact]
    public async Task WithAnOtlpCollector_EachSubmitAndPollIsASpan_WithItsUpstreamCallAndStatementsAsChildren()
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var harness = await EngineHarness.StartAsync("traces", EngineHarness.FastSimulator(),
            ("Telemetry:OtlpEndpoint", collector.Endpoint.ToString()), ("Telemetry:OtlpProtocol", "HttpProtobuf"),
            // The exporter's batch goes out every 200 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"), ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            // Logs as compact JSON on the console, as the README shows.
            ("Serilog:WriteTo:0:Name", "Console"),
            ("Serilog:WriteTo:0:Args:formatter", "Serilog.Formatting.Compact.CompactJsonFormatter, Serilog.Formatting.Compact"));
        var worker = await harness.StartWorkerAsync();
        // One request: its running and succeeded edges are grouped writes, whose statement runs under the span of the
        // caller that started the group's writer; with one request in flight that caller is always this request.
        var outTaskId = (await harness.EnqueueAsync(1, "traced"))[0].OutTaskId!;
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(60));

        // The submit that was accepted and the poll that found the task done (earlier polls found it pending; their
        // reschedule is one grouped statement for many polls, so it belongs to none of them).
        ExportedSpan? Span(string name) => collector.Spans.FirstOrDefault(s => s.Name == name
            && s.Attributes.GetValueOrDefault("aireiter.out_task_id") == outTaskId
            && s.Attributes.GetValueOrDefault("aireiter.outcome") == (name == "submit" ? "accepted" : "completed"));
        // Metrics go out on their own timer, so the export that counts the submits may come after the spans.
        bool SubmitsCounted() => collector.Exports.Any(e => e.Signal == "metrics" && e.Text.Contains("aireiter.jobs.submits", StringComparison.Ordinal));
        // The log line of the submit, as read from the worker's output (on another thread).
        JsonNode? Submitted() => worker.Output.Where(l => l.StartsWith('{')).Select(l => JsonNode.Parse(l)!)
            .SingleOrDefault(e => (string?)e["@mt"] is { } template && template.StartsWith("Submitted ", StringComparison.Ordinal) && (string?)e["OutTaskId"] == outTaskId);
        await harness.WaitUntilAsync(() => Task.FromResult(Span("submit") is not null && Span("poll") is not null && SubmitsCounted() && Submitted() is not null),
            TimeSpan.FromSeconds(30), "the submit and poll spans of the first request and a metrics export counting submits at the collector, and the submit's log line");

        foreach (var name in new[] { "submit", "poll" })
        {
            var span = Span(name)!;
            Assert.Equal("Aireiter.Jobs", span.Scope);
            Assert.Equal("gpt_image_2", span.Attributes["aireiter.model"]);
            var children = collector.Spans.Where(s => s.ParentSpanId == span.SpanId).ToList();
            Assert.All(children, c => Assert.Equal(span.TraceId, c.TraceId));
            // The upstream call it made, and the statements it ran, belong to it.
            Assert.Contains(children, c => c.Scope == "System.Net.Http" && c.Attributes.GetValueOrDefault("server.address") == "127.0.0.1");
            Assert.Contains(children, c => c.Scope == "Npgsql");
        }

        // The log line of the submit names the request and carries the submit span's trace and span ids.
        var submitted = Submitted()!;
        Assert.Equal(Span("submit")!.TraceId, (string?)submitted["@tr"]);
        Assert.Equal(Span("submit")!.SpanId, (string?)submitted["@sp"]);

        // The upstream's API key went into no export, of any signal.
        Assert.All(collector.Exports, e => Assert.DoesNotContain(harness.Simulator.Options.ApiKey, e.Text, StringComparison.Ordinal));
    }
}
