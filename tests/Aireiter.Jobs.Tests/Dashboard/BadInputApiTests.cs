using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;

namespace Aireiter.Jobs.Tests.Dashboard;

/// <summary>One worker for the bad-input cases; submitting is held back so nothing created is ever sent.</summary>
public sealed class BadInputWorker : IAsyncLifetime
{
    public EngineHarness Harness { get; private set; } = null!;
    public WorkerProcess Worker { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Harness = await EngineHarness.StartAsync("api-bad-input", EngineHarness.FastSimulator(), ("Engine:Limits:SubmitsPerSecond", "0.001"));
        Worker = await Harness.StartWorkerAsync();
        Http = new HttpClient { BaseAddress = Worker.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Harness.DisposeAsync();
    }

    public Task<long> StoredAsync(string where = "true") => Harness.ScalarAsync($"select count(*) from generation_requests where {where}");
}

/// <summary>Malformed, oversized, wrong-typed, unknown and duplicated input to the API: a problem that says what, and nothing stored.</summary>
public sealed class BadInputApiTests(BadInputWorker fixture) : IClassFixture<BadInputWorker>
{
    private readonly HttpClient _http = fixture.Http;

    [Fact]
    public async Task ASnakeCaseOutTaskId_IsRefusedAndNamed_SoPostingTwiceNeverCreatesTwoRequests()
    {
        const string body = """{"model":"gpt_image_2","params":{"prompt":"a chair"},"out_task_id":"acc-idem-1"}""";

        foreach (var _ in new[] { 1, 2 })
        {
            var problem = await ProblemAsync(await Post(body), HttpStatusCode.BadRequest);
            Assert.Contains("did you mean 'outTaskId'", Error(problem, "out_task_id"), StringComparison.Ordinal);
        }

        Assert.Equal(0, await fixture.StoredAsync("out_task_id like 'acc-idem%'"));

        const string camel = """{"model":"gpt_image_2","params":{"prompt":"a chair"},"outTaskId":"acc-idem-1"}""";
        var first = await (await Post(camel)).Content.ReadFromJsonAsync<JsonArray>();
        var second = await (await Post(camel)).Content.ReadFromJsonAsync<JsonArray>();
        Assert.Equal("created", first![0]!["status"]!.GetValue<string>());
        Assert.Equal("already_present", second![0]!["status"]!.GetValue<string>());
        Assert.Equal(1, await fixture.StoredAsync("out_task_id = 'acc-idem-1'"));

        var badId = await ProblemAsync(await Post("""{"model":"gpt_image_2","params":{"prompt":"a chair"},"outTaskId":"bad id'"}"""), HttpStatusCode.BadRequest);
        Assert.Contains("must be 1 to 64 characters", Error(badId, "outTaskId"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownWrongTypedAndDuplicatedFields_AreEachNamed_AndNothingOfTheBatchIsStored()
    {
        var problem = await ProblemAsync(await Post("""
            [{"model":"gpt_image_2","params":{"prompt":"fine"},"key":"ok-1","batch":"mixed"},
             {"model":"gpt_image_2","params":{"prompt":"p","aspect_ration":"1:1"},"priority":"high","notBefore":"tomorrow","colour":"red"},
             {"model":7,"params":[],"metadata":"x","key":""}]
            """), HttpStatusCode.BadRequest);

        Assert.Contains("is not a parameter of gpt_image_2", Error(problem, "[1].params.aspect_ration"), StringComparison.Ordinal);
        Assert.Contains("whole number", Error(problem, "[1].priority"), StringComparison.Ordinal);
        Assert.Contains("ISO 8601", Error(problem, "[1].notBefore"), StringComparison.Ordinal);
        Assert.Contains("is not a field", Error(problem, "[1].colour"), StringComparison.Ordinal);
        Assert.Contains("must be text", Error(problem, "[2].model"), StringComparison.Ordinal);
        Assert.Contains("JSON object", Error(problem, "[2].params"), StringComparison.Ordinal);
        Assert.Contains("JSON object", Error(problem, "[2].metadata"), StringComparison.Ordinal);
        Assert.Contains("must not be empty", Error(problem, "[2].key"), StringComparison.Ordinal);
        Assert.Equal(0, await fixture.StoredAsync("item_key = 'ok-1'"));

        var duplicated = await ProblemAsync(await Post("""{"model":"gpt_image_2","params":{"prompt":"a"},"key":"dup-1","key":"dup-2"}"""),
            HttpStatusCode.BadRequest);
        Assert.Contains("Duplicate property 'key'", duplicated["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, await fixture.StoredAsync("item_key like 'dup-%'"));

        var formPost = await _http.PostAsync("/api/requests", new StringContent("model=gpt_image_2", Encoding.UTF8, "application/x-www-form-urlencoded"));
        await ProblemAsync(formPost, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task BytesThatAreNotUtf8_AreRefused_NotReplaced()
    {
        var bytes = Encoding.ASCII.GetBytes("""{"model":"gpt_image_2","params":{"prompt":"caf_ _"},"key":"latin-1"}""");
        var at = Array.IndexOf(bytes, (byte)'_');
        bytes[at] = 0xE9; // é in Latin-1
        bytes[at + 2] = 0xFF;
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        var problem = await ProblemAsync(await _http.PostAsync("/api/requests", content), HttpStatusCode.BadRequest);

        Assert.Contains($"not valid UTF-8 (byte {at}", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, await fixture.StoredAsync("item_key = 'latin-1'"));
    }

    [Fact]
    public async Task ABodyOverTheLimit_GetsA413Problem_AndOneWarningLineWithoutAStackTrace()
    {
        var before = fixture.Worker.Output.Count;
        var prompt = new string('x', 11 * 1024 * 1024);

        // As curl does for a large body: ask first, so the refusal can be read before 11 MB are sent.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/requests")
        {
            Content = new StringContent($$"""{"model":"gpt_image_2","params":{"prompt":"{{prompt}}"},"key":"huge"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = true;

        var problem = await ProblemAsync(await _http.SendAsync(request), HttpStatusCode.RequestEntityTooLarge);

        Assert.Contains("limit of 10,485,760 bytes (Access:MaxBodyBytes)", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, await fixture.StoredAsync("item_key = 'huge'"));
        await WaitForOutput(l => l.Contains("Refused POST /api/requests with 413", StringComparison.Ordinal), before);
        var logged = fixture.Worker.Output.Skip(before).ToList();
        Assert.DoesNotContain(logged, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain(logged, l => l.Contains("Exception", StringComparison.Ordinal) && !l.Contains("Refused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task APromptOverTheLimit_IsRefusedWithTheLimitInTheMessage()
    {
        var prompt = new string('y', 5 * 1024 * 1024);

        var problem = await ProblemAsync(await Post($$"""{"model":"gpt_image_2","params":{"prompt":"{{prompt}}"},"key":"long-prompt"}"""),
            HttpStatusCode.BadRequest);

        Assert.Contains("is 5,242,880 characters; the limit is 32,000 (Engine:MaxPromptLength)", Error(problem, "params.prompt"), StringComparison.Ordinal);
        Assert.Equal(0, await fixture.StoredAsync("item_key = 'long-prompt'"));
    }

    [Theory]
    [InlineData("/api/requests?from=notadate", "from", "'notadate' is not a date and time: use ISO 8601")]
    [InlineData("/api/requests?to=2026-13-45", "to", "is not a date and time")]
    [InlineData("/api/requests?before=abc", "before", "'abc' is not a whole number")]
    [InlineData("/api/requests?limit=ten", "limit", "'ten' is not a whole number")]
    [InlineData("/api/requests?limit=0", "limit", "must be between 1 and 200")]
    [InlineData("/api/requests?state=done", "state", "must be one of")]
    [InlineData("/api/requests?stat=failed", "stat", "is not a parameter of this endpoint")]
    [InlineData("/api/requests?state=failed&state=queued", "state", "is given 2 times")]
    [InlineData("/api/batches?limit=-5", "limit", "must be between 1 and 200")]
    [InlineData("/api/batches?limit=lots", "limit", "'lots' is not a whole number")]
    [InlineData("/api/stats?verbose=1", "verbose", "takes none")]
    public async Task AQueryParameterThatCannotBeRead_IsA400ProblemThatNamesIt(string path, string parameter, string expected)
    {
        var problem = await ProblemAsync(await _http.GetAsync(path), HttpStatusCode.BadRequest);

        Assert.Contains(expected, Error(problem, parameter), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/api/requests/no-such-request")]
    [InlineData("GET", "/api/requests/no-such-request/outputs/0")]
    [InlineData("GET", "/api/batches/no-such-batch")]
    [InlineData("GET", "/api/batches/no-such-batch/results.csv")]
    [InlineData("POST", "/api/schedules/no-such-schedule/run")]
    [InlineData("GET", "/api/no-such-endpoint")]
    public async Task EveryNotFound_IsAProblemDocument(string method, string path)
    {
        var response = await _http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task TheOpenApiDocument_NamesTheCreateFieldsAsTheApiReadsThem()
    {
        var document = JsonNode.Parse(await _http.GetStringAsync("/openapi/v1.json"))!;
        var fields = document["components"]!["schemas"]!["CreateRequest"]!["properties"]!.AsObject().Select(p => p.Key).Order().ToList();

        Assert.Equal(["batch", "key", "metadata", "model", "notBefore", "outTaskId", "params", "priority"], fields);
    }

    [Fact]
    public async Task AWrongMethod_IsAProblemDocumentToo()
    {
        await ProblemAsync(await _http.DeleteAsync("/api/stats"), HttpStatusCode.MethodNotAllowed);
    }

    private Task<HttpResponseMessage> Post(string json) =>
        _http.PostAsync("/api/requests", new StringContent(json, Encoding.UTF8, "application/json"));

    private static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode} instead of {(int)expected}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!.AsObject();
    }

    private static string Error(JsonObject problem, string field)
    {
        var errors = problem["errors"]?.AsObject();
        Assert.True(errors?.ContainsKey(field) == true, $"no error for '{field}' in {problem.ToJsonString()}");
        return string.Join(" | ", errors![field]!.AsArray().Select(e => e!.GetValue<string>()));
    }

    private async Task WaitForOutput(Func<string, bool> line, int from)
    {
        for (var i = 0; i < 300 && !fixture.Worker.Output.Skip(from).Any(line); i++)
        {
            await Task.Delay(50);
        }

        Assert.Contains(fixture.Worker.Output.Skip(from), l => line(l));
    }
}
