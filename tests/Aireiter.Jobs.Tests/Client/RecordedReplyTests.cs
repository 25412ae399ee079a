using Aireiter.Client.Protocol;

namespace Aireiter.Jobs.Tests.Client;

/// <summary>Answers shaped as the documentation and third-party observations record them, classified without a network.</summary>
public sealed class RecordedReplyTests
{
    private const string DocumentedSubmit = """
        {"statusCode":200,"message":"","data":{"out_task_id":"catalog-0001","status":"pending","estimated_credits":100,"created_at":"2025-06-01T10:12:11Z"}}
        """;

    private const string OlderSubmitWithTaskId = """
        {"statusCode":200,"message":"","data":{"task_id":"order_p9EyMzcBxkH7zxQhlnP6k","out_task_id":"catalog-0001","status":"pending","estimated_credits":100,"created_at":"2025-06-01T10:12:11Z"}}
        """;

    private const string OfficialChannelSubmit = """
        {"code":200,"data":[{"status":"submitted","task_id":"task_01KPZQ8V3M"}]}
        """;

    private const string DocumentedCompletedQuery = """
        {"statusCode":200,"message":"","data":{"task_id":"order_lwU2d-VkUq9-tlCCmrdYu","out_task_id":"catalog-0001","status":"completed",
         "created_at":"2025-06-01T10:12:11Z","completed_at":"2025-06-01T10:13:41Z",
         "input":{"model":"nano_banana","params":{"format":"jpeg","image_url":"https://a/1.png,https://a/2.png,https://a/3.png","show_public":0,"aspect_ratio":"1:1"},"showPublic":0,"attachments":["https://a/1.png,https://a/2.png,https://a/3.png"]},
         "credits_used":100,"output":[{"url":"https://s1.pxz.ai/result/abc.png"},{"url":"https://s1.pxz.ai/result/def.png"}]}}
        """;

    [Fact]
    public void DocumentedSubmit_IsAccepted_WithEstimatedCredits()
    {
        var reply = UpstreamReply.Classify(CallKind.Submit, 200, DocumentedSubmit, null);
        var task = ReplyParsing.ToSubmittedTask(reply.Data!.Value);

        Assert.Equal(OutcomeKind.Accepted, reply.Kind);
        Assert.Equal("catalog-0001", task.OutTaskId);
        Assert.Null(task.TaskId);
        Assert.Equal(100m, task.EstimatedCredits);
        Assert.Equal(new DateTimeOffset(2025, 6, 1, 10, 12, 11, TimeSpan.Zero), task.CreatedAt);
    }

    [Fact]
    public void OlderSubmit_KeepsTheSystemTaskId()
    {
        var reply = UpstreamReply.Classify(CallKind.Submit, 200, OlderSubmitWithTaskId, null);

        Assert.Equal("order_p9EyMzcBxkH7zxQhlnP6k", ReplyParsing.ToSubmittedTask(reply.Data!.Value).TaskId);
    }

    [Fact]
    public void OfficialChannel_CodeAndArrayEnvelope_IsAccepted()
    {
        var reply = UpstreamReply.Classify(CallKind.Submit, 200, OfficialChannelSubmit, null);
        var task = ReplyParsing.ToSubmittedTask(reply.Data!.Value);

        Assert.Equal(OutcomeKind.Accepted, reply.Kind);
        Assert.Equal(200, reply.UpstreamCode);
        Assert.Equal("task_01KPZQ8V3M", task.TaskId);
        Assert.Equal("submitted", task.Status);
    }

    [Fact]
    public void DocumentedCompletedQuery_GivesEveryOutputAndTheCreditsUsed()
    {
        var reply = UpstreamReply.Classify(CallKind.Query, 200, DocumentedCompletedQuery, null);
        var snapshot = ReplyParsing.ToSnapshot(reply.Data!.Value);

        Assert.Equal(UpstreamStatus.Completed, snapshot.Status);
        Assert.True(snapshot.IsFinished);
        Assert.Equal(100m, snapshot.CreditsUsed);
        Assert.Equal(["https://s1.pxz.ai/result/abc.png", "https://s1.pxz.ai/result/def.png"], snapshot.OutputUrls);
        Assert.Equal(TimeSpan.FromSeconds(90), snapshot.CompletedAt - snapshot.CreatedAt);
    }

    [Theory]
    [InlineData("pending", UpstreamStatus.Pending, false)]
    [InlineData("processing", UpstreamStatus.Processing, false)]
    [InlineData("COMPLETED", UpstreamStatus.Completed, true)]
    [InlineData("failed", UpstreamStatus.Failed, true)]
    [InlineData("submitted", UpstreamStatus.Unknown, false)]
    [InlineData("cancelled", UpstreamStatus.Unknown, false)]
    [InlineData("", UpstreamStatus.Unknown, false)]
    public void Status_IsParsedLeniently_AndUnknownValuesAreNotFinished(string status, UpstreamStatus expected, bool finished)
    {
        var body = $$$"""{"statusCode":200,"data":{"out_task_id":"x","status":"{{{status}}}"}}""";
        var snapshot = ReplyParsing.ToSnapshot(UpstreamReply.Classify(CallKind.Query, 200, body, null).Data!.Value);

        Assert.Equal(expected, snapshot.Status);
        Assert.Equal(finished, snapshot.IsFinished);
        Assert.Equal(status, snapshot.RawStatus);
    }

    [Theory]
    [InlineData("""{"statusCode":200,"data":{"status":"failed","error":"upstream model timeout"}}""", "upstream model timeout")]
    [InlineData("""{"statusCode":200,"data":{"status":"failed","error":{"code":"E42","message":"no face found"}}}""", "no face found")]
    public void FailedTask_CarriesTheUpstreamError(string body, string error)
    {
        var snapshot = ReplyParsing.ToSnapshot(UpstreamReply.Classify(CallKind.Query, 200, body, null).Data!.Value);

        Assert.Equal(UpstreamStatus.Failed, snapshot.Status);
        Assert.Equal(error, snapshot.Error);
    }

    [Theory]
    // Insufficient credits: the third-party "typical failure", with the misleading ok:true.
    [InlineData(CallKind.Submit, 200, """{"ok": true, "statusCode": 433, "message": "not enough credits", "data": null}""", OutcomeKind.InsufficientCredits)]
    [InlineData(CallKind.Query, 200, """{"statusCode": 400, "message": "api task not found"}""", OutcomeKind.NotFound)]
    [InlineData(CallKind.Submit, 200, """{"statusCode": 400, "message": "JSON structure error; check model, params, out_task_id"}""", OutcomeKind.InvalidRequest)]
    [InlineData(CallKind.Submit, 200, """{"statusCode": 400, "message": "size cannot be used together with aspect_ratio or resolution"}""", OutcomeKind.InvalidRequest)]
    [InlineData(CallKind.Submit, 400, """{"statusCode": 400, "message": "invalid aspect_ratio"}""", OutcomeKind.InvalidRequest)]
    [InlineData(CallKind.Submit, 200, """{"statusCode": 400, "message": "The prompt contains sensitive words and was rejected"}""", OutcomeKind.ContentRejected)]
    [InlineData(CallKind.Submit, 200, """{"statusCode": 401, "message": "API key invalid or not sent"}""", OutcomeKind.Unauthorized)]
    [InlineData(CallKind.Submit, 401, """<html>401</html>""", OutcomeKind.Unauthorized)]
    [InlineData(CallKind.Query, 403, "", OutcomeKind.Unauthorized)]
    [InlineData(CallKind.Submit, 429, "", OutcomeKind.RateLimited)]
    [InlineData(CallKind.Query, 200, """{"statusCode": 429, "message": "Too Many Requests"}""", OutcomeKind.RateLimited)]
    [InlineData(CallKind.Query, 502, "<html>Bad Gateway</html>", OutcomeKind.Transient)]
    [InlineData(CallKind.Submit, 502, "<html>Bad Gateway</html>", OutcomeKind.Ambiguous)]
    [InlineData(CallKind.Query, 200, "<!DOCTYPE html><html><body>AIReiter</body></html>", OutcomeKind.Transient)]
    [InlineData(CallKind.Submit, 200, "<!DOCTYPE html><html><body>AIReiter</body></html>", OutcomeKind.Ambiguous)]
    [InlineData(CallKind.Query, 200, """{"statusCode":200,"data":{"status":""", OutcomeKind.Transient)]
    [InlineData(CallKind.Submit, 200, """{"statusCode":200,"message":"","data":null}""", OutcomeKind.Ambiguous)]
    [InlineData(CallKind.Query, 200, """["not","an","envelope"]""", OutcomeKind.Transient)]
    [InlineData(CallKind.Submit, 200, """{"statusCode":"200","data":{"out_task_id":"a","status":"pending"}}""", OutcomeKind.Accepted)]
    [InlineData(CallKind.Submit, 200, """{"statusCode": 10042, "message": "channel busy"}""", OutcomeKind.Ambiguous)]
    public void Replies_AreSortedIntoTheClosedSet(CallKind call, int http, string body, OutcomeKind expected)
    {
        Assert.Equal(expected, UpstreamReply.Classify(call, http, body, null).Kind);
    }

    [Fact]
    public void TheUpstreamMessage_IsKept()
    {
        var reply = UpstreamReply.Classify(CallKind.Submit, 200, """{"ok":true,"statusCode":433,"message":"not enough credits","data":null}""", null);

        Assert.Equal("not enough credits", reply.Message);
        Assert.Equal(433, reply.UpstreamCode);
        Assert.Equal(200, reply.HttpStatus);
    }

    [Fact]
    public void RetryAfter_IsKeptOnlyForRateLimits()
    {
        Assert.Equal(TimeSpan.FromSeconds(3), UpstreamReply.Classify(CallKind.Query, 429, "", TimeSpan.FromSeconds(3)).RetryAfter);
        Assert.Null(UpstreamReply.Classify(CallKind.Query, 200, DocumentedCompletedQuery, TimeSpan.FromSeconds(3)).RetryAfter);
    }
}
