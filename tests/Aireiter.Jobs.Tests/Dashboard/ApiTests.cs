using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;
using Npgsql;

namespace Aireiter.Jobs.Tests.Dashboard;

/// <summary>The HTTP API over real HTTP against a real worker and PostgreSQL.</summary>
public sealed class ApiTests
{
    private const string ApiKey = "test-api-key-0123456789";

    private static async Task<(EngineHarness Harness, WorkerProcess Worker)> Start(string name, params (string Key, string Value)[] settings)
    {
        var harness = await EngineHarness.StartAsync(name, EngineHarness.FastSimulator(),
            [("Access:ApiKeys:0", ApiKey), ("Access:Users:0", "ops:correct-horse-battery"), .. settings]);
        return (harness, await harness.StartWorkerAsync());
    }

    private static HttpClient Client(WorkerProcess worker, string? key = null, bool remote = false)
    {
        var client = new HttpClient { BaseAddress = worker.BaseAddress };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        if (remote)
        {
            // What a request relayed by a proxy looks like; it is treated as not local.
            client.DefaultRequestHeaders.Add("X-Forwarded-For", "203.0.113.7");
        }

        return client;
    }

    [Fact]
    public async Task Create_ReportsEveryProblemPerField_StoresNothingThen_AndIsIdempotentOnTheKey()
    {
        var (harness, worker) = await Start("api-create", ("Engine:Limits:SubmitsPerSecond", "0.001"));
        await using var _ = harness;
        using var http = Client(worker);

        var invalid = await http.PostAsJsonAsync("/api/requests", new object[]
        {
            new { model = "gpt_image_2", @params = new { prompt = "ok" }, key = "A" },
            new { model = "gpt_image_2", @params = new { prompt = "x", size = "2048x2048", aspect_ratio = "1:1" } },
            new { model = "seedream_v5_lite", @params = new { resolution = "4K" } },
        });
        var problem = (await invalid.Content.ReadFromJsonAsync<JsonObject>())!;

        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Equal("application/problem+json", invalid.Content.Headers.ContentType!.MediaType);
        var errors = problem["errors"]!.AsObject();
        Assert.Contains("[1].params.size", errors.Select(e => e.Key));
        Assert.Contains("[2].params.prompt", errors.Select(e => e.Key));
        Assert.Contains("[2].params.resolution", errors.Select(e => e.Key));
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from generation_requests"));

        var body = new { model = "gpt_image_2", @params = new { prompt = "a chair" }, key = "SKU-1", batch = "api-batch" };
        var first = await http.PostAsJsonAsync("/api/requests", body);
        var again = await http.PostAsJsonAsync("/api/requests", body);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var created = (await first.Content.ReadFromJsonAsync<JsonArray>())![0]!;
        var repeated = (await again.Content.ReadFromJsonAsync<JsonArray>())![0]!;
        Assert.Equal("created", created["status"]!.GetValue<string>());
        Assert.Equal("already_present", repeated["status"]!.GetValue<string>());
        Assert.Equal(created["outTaskId"]!.GetValue<string>(), repeated["outTaskId"]!.GetValue<string>());
        Assert.Equal(1, await harness.ScalarAsync("select count(*) from generation_requests"));

        var notJson = await http.PostAsync("/api/requests", new StringContent("{nope", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
    }

    [Fact]
    public async Task KeysetPaging_NeitherRepeatsNorSkips_WhileNewRequestsArrive()
    {
        var (harness, worker) = await Start("api-paging", ("Engine:Limits:SubmitsPerSecond", "0.001"));
        await using var _ = harness;
        using var http = Client(worker);
        await harness.EnqueueAsync(120, "page");

        var seen = new List<string>();
        string? next = null;
        var round = 0;
        do
        {
            var page = (await http.GetFromJsonAsync<JsonObject>($"/api/requests?limit=50{(next is null ? "" : $"&before={next}")}"))!;
            seen.AddRange(page["items"]!.AsArray().Select(i => i!["outTaskId"]!.GetValue<string>()));
            next = page["next"]?.ToString();
            if (round++ == 0)
            {
                await harness.EnqueueAsync(30, "newer"); // lands before the first page, not inside the pages still to come
            }
        }
        while (next is not null);

        Assert.Equal(120, seen.Count);
        Assert.Equal(120, seen.Distinct().Count());
        var bad = await http.GetAsync("/api/requests?state=flying");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Access_IsLocalOnlyByDefault_AndOtherwiseNeedsAKeyOrCredentials_ReadOnlyMayNotAct()
    {
        var (harness, worker) = await Start("api-auth");
        await using var _ = harness;

        using var local = Client(worker);
        using var remote = Client(worker, remote: true);
        using var wrongKey = Client(worker, key: "not-the-key-at-all", remote: true);
        using var rightKey = Client(worker, key: ApiKey, remote: true);
        using var user = Client(worker, remote: true);
        user.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:correct-horse-battery")));
        using var badUser = Client(worker, remote: true);
        badUser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:guess")));

        Assert.Equal(HttpStatusCode.OK, (await local.GetAsync("/api/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await remote.GetAsync("/api/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await remote.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await remote.GetAsync("/hangfire")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await remote.GetAsync("/hangfire/generation")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await remote.PostAsync("/hangfire/recurring/trigger", Form("jobs[]", "housekeeping:event-retention"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrongKey.GetAsync("/api/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await badUser.GetAsync("/api/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await rightKey.GetAsync("/api/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await user.GetAsync("/hangfire/generation")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await user.GetAsync("/hangfire")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await user.GetAsync("/hangfire/generation/requests")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await user.PostAsync("/api/submitting/resume", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await remote.GetAsync("/health/ready")).StatusCode); // health stays open for orchestrators

        await using var readOnly = WorkerProcess.Start(new Dictionary<string, string>(harness.Settings)
        {
            ["Access:ReadOnly"] = "true", ["Access:ApiKeys:0"] = ApiKey, ["Cluster:NodeId"] = "read-only",
        });
        await readOnly.WaitUntilReadyAsync();
        using var readOnlyLocal = Client(readOnly);
        using var readOnlyKey = Client(readOnly, key: ApiKey);
        Assert.Equal(HttpStatusCode.OK, (await readOnlyLocal.GetAsync("/api/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await readOnlyLocal.PostAsync("/api/submitting/resume", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await readOnlyKey.PostAsync("/api/submitting/resume", null)).StatusCode);

        // Hangfire's pages in read-only mode: no action buttons, its actions refused, its live statistics still served.
        var recurring = await readOnlyLocal.GetStringAsync("/hangfire/recurring");
        Assert.Contains("housekeeping:event-retention", recurring, StringComparison.Ordinal);
        Assert.DoesNotContain("js-jobs-list-command", recurring, StringComparison.Ordinal);
        Assert.Contains("data-readonly=\"true\"", await readOnlyLocal.GetStringAsync("/hangfire/generation"), StringComparison.Ordinal);
        // With the page's antiforgery token, as Hangfire's own script posts: the action is refused by the read-only rule, the statistics are served.
        var token = await AntiforgeryAsync(readOnlyLocal, "/hangfire");
        var trigger = await readOnlyLocal.SendAsync(Post("/hangfire/recurring/trigger", token, "jobs[]", "housekeeping:event-retention"));
        Assert.Equal(HttpStatusCode.Forbidden, trigger.StatusCode);
        Assert.Contains("read-only", await trigger.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await readOnlyLocal.SendAsync(Post("/hangfire/stats", token, "metrics[]", "servers:count"))).StatusCode);
        Assert.Contains("js-jobs-list-command", await local.GetStringAsync("/hangfire/recurring"), StringComparison.Ordinal);
        // An action posted without the page's antiforgery token (from another site, say) is refused even for a local caller.
        Assert.Equal(HttpStatusCode.Forbidden, (await local.PostAsync("/hangfire/recurring/trigger", Form("jobs[]", "housekeeping:event-retention"))).StatusCode);
    }

    private static FormUrlEncodedContent Form(string name, string value) => new([new KeyValuePair<string, string>(name, value)]);

    /// <summary>The antiforgery header and token a Hangfire page hands its script (the cookie stays in the client).</summary>
    private static async Task<(string Header, string Token)> AntiforgeryAsync(HttpClient client, string page)
    {
        var html = await client.GetStringAsync(page);
        var header = System.Text.RegularExpressions.Regex.Match(html, "<meta name=\"csrf-header\" content=\"([^\"]+)\"");
        var token = System.Text.RegularExpressions.Regex.Match(html, "<meta name=\"csrf-token\" content=\"([^\"]+)\"");
        Assert.True(header.Success && token.Success, "the page carries no antiforgery token");
        return (header.Groups[1].Value, System.Net.WebUtility.HtmlDecode(token.Groups[1].Value));
    }

    private static HttpRequestMessage Post(string path, (string Header, string Token) antiforgery, string name, string value)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Form(name, value) };
        request.Headers.Add(antiforgery.Header, antiforgery.Token);
        return request;
    }

    [Fact]
    public async Task ABodyOverTheLimit_IsRefusedWith413()
    {
        var (harness, worker) = await Start("api-limits", ("Access:MaxBodyBytes", "4096"));
        await using var _ = harness;
        using var http = Client(worker);

        var big = await http.PostAsync("/api/requests",
            new StringContent("{\"model\":\"gpt_image_2\",\"params\":{\"prompt\":\"" + new string('x', 10_000) + "\"}}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from generation_requests"));
    }

    [Fact]
    public async Task NoResponse_EverContainsTheApiKeyTheAccessKeysOrTheDatabasePassword()
    {
        var (harness, worker) = await Start("api-secrets");
        await using var _ = harness;
        using var http = Client(worker);
        var upstreamKey = harness.Settings["Aireiter:ApiKey"];
        var password = new NpgsqlConnectionStringBuilder(harness.Database).Password!;
        var results = await harness.EnqueueAsync(2);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(20));
        var csv = await http.PostAsync("/api/batches/uploaded/import?model=gpt_image_2", new StringContent("key,prompt\nU-1,a vase\n", Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);

        foreach (var path in new[] { "/api/stats", "/api/node", "/api/requests", $"/api/requests/{results[0].OutTaskId}", "/api/batches",
                     "/api/batches/uploaded", "/api/batches/uploaded/results.csv", "/api/schedules", "/health/ready", "/health/live",
                     "/openapi/v1.json", "/dashboard/", "/hangfire", "/hangfire/generation", "/hangfire/generation/batches",
                     "/hangfire/generation/requests", $"/hangfire/generation/requests/{results[0].OutTaskId}", "/hangfire/generation/failures",
                     "/hangfire/generation/schedules", "/hangfire/servers", "/hangfire/recurring", "/hangfire/jobs/enqueued",
                     "/hangfire/jobs/processing", "/hangfire/jobs/succeeded", "/hangfire/jobs/failed", "/hangfire/retries" })
        {
            var response = await http.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode}");
            foreach (var secret in new[] { upstreamKey, password, ApiKey, "correct-horse-battery" })
            {
                Assert.DoesNotContain(secret, body, StringComparison.Ordinal);
            }
        }
    }
}
