using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Aireiter.Jobs.Tests.Engine;

namespace Aireiter.Jobs.Tests.Hosting;

/// <summary><c>/metrics</c> of a real worker after a small batch against the simulator, read the way Prometheus reads it.</summary>
public sealed partial class MetricsTests
{
    private const string ApiKey = "metrics-api-key-0123456789";

    [Fact]
    public async Task AfterABatch_MetricsShowItsSubmitsPollsCreditsAndStates_ToLocalOrKeyedScrapersOnly()
    {
        await using var harness = await EngineHarness.StartAsync("metrics", EngineHarness.FastSimulator(), ("Access:ApiKeys:0", ApiKey));
        var worker = await harness.StartWorkerAsync();
        await harness.EnqueueAsync(6, "metric");
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(6, await harness.ScalarAsync("select count(*) from generation_requests where state = 'succeeded'"));
        var credits = await harness.ScalarAsync("select sum(credits_used)::bigint from generation_requests");

        using var local = new HttpClient { BaseAddress = worker.BaseAddress };
        var response = await local.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
        var samples = Parse(text);
        Assert.Equal(6, Value(samples, "aireiter_jobs_submits_total", ("outcome", "accepted"), ("model", "gpt_image_2")));
        Assert.Equal(6, Value(samples, "aireiter_jobs_polls_total", ("outcome", "completed"), ("model", "gpt_image_2")));
        Assert.Equal(credits, Value(samples, "aireiter_jobs_credits_used_total", ("model", "gpt_image_2")));
        Assert.Equal(6, Value(samples, "aireiter_jobs_requests", ("state", "succeeded")));
        Assert.Equal(0, Value(samples, "aireiter_jobs_in_flight"));
        Assert.Equal(0, Value(samples, "aireiter_jobs_submit_paused", ("reason", "none")));
        Assert.True(Value(samples, "aireiter_jobs_in_flight_limit") > 0);
        Assert.Equal(6, Value(samples, "aireiter_upstream_duration_seconds_count", ("endpoint", "submit"), ("outcome", "accepted")));
        Assert.True(Value(samples, "aireiter_upstream_duration_seconds_count", ("endpoint", "query"), ("outcome", "accepted")) >= 6);
        Assert.True(Value(samples, "aireiter_jobs_poll_lateness_seconds_count") >= 6);
        Assert.DoesNotContain(harness.Simulator.Options.ApiKey, text, StringComparison.Ordinal);

        // From elsewhere (a proxy's forwarded request counts as remote): only with the API key.
        using var remote = new HttpClient { BaseAddress = worker.BaseAddress };
        remote.DefaultRequestHeaders.Add("X-Forwarded-For", "203.0.113.7");
        Assert.Equal(HttpStatusCode.Unauthorized, (await remote.GetAsync("/metrics")).StatusCode);
        remote.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiKey);
        Assert.Equal(HttpStatusCode.OK, (await remote.GetAsync("/metrics")).StatusCode);

        // The host logs one line per HTTP call (scrapes at Debug, so the default level leaves them out).
        Assert.Equal(HttpStatusCode.OK, (await local.GetAsync("/api/stats")).StatusCode);
        await worker.WaitForLineAsync("HTTP GET /api/stats responded 200", TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(worker.Output, l => l.Contains("HTTP GET /metrics", StringComparison.Ordinal));
    }

    /// <summary>One value per series line: <c>name{label="value",…} number [timestamp]</c>.</summary>
    private static List<(string Name, Dictionary<string, string> Labels, double Value)> Parse(string text) =>
    [
        .. text.Split('\n').Where(line => line.Length > 0 && line[0] != '#').Select(line => Series().Match(line)).Where(m => m.Success)
            .Select(m => (m.Groups["name"].Value,
                LabelPair().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value, StringComparer.Ordinal),
                double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))),
    ];

    /// <summary>The one series of <paramref name="name"/> carrying these labels (others may be there too, e.g. the service's).</summary>
    private static double Value(List<(string Name, Dictionary<string, string> Labels, double Value)> samples, string name,
        params (string Key, string Value)[] labels)
    {
        var found = samples.Where(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).ToList();
        Assert.True(found.Count == 1,
            $"{found.Count} series of {name} with {string.Join(", ", labels)}; series of that name: " +
            string.Join("; ", samples.Where(s => s.Name == name).Select(s => $"{{{string.Join(",", s.Labels.Select(l => $"{l.Key}={l.Value}"))}}} {s.Value}")));
        return found[0].Value;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)")]
    private static partial Regex Series();

    [GeneratedRegex("""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"[,]?""")]
    private static partial Regex LabelPair();
}
