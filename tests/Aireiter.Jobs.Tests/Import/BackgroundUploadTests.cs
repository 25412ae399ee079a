using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Aireiter.Jobs.Tests.Engine;

namespace Aireiter.Jobs.Tests.Import;

/// <summary>A large catalogue upload: stored in the database, imported by a Hangfire job, followed through the API.</summary>
public sealed class BackgroundUploadTests
{
    [Fact]
    public async Task ALargeUpload_IsAccepted_ThenImportedByAHangfireJob_AndItsReportCanBeFollowed()
    {
        const int lines = 60_000; // about 2 MB: more than one stored chunk
        var simulator = EngineHarness.FastSimulator();
        simulator.Balance = 0; // submitting pauses: the test is about the import
        await using var harness = await EngineHarness.StartAsync("upload-job", simulator, ("Access:BackgroundImportAboveBytes", "100000"));
        var worker = await harness.StartWorkerAsync();
        using var http = new HttpClient { BaseAddress = worker.BaseAddress };
        var csv = new StringBuilder("key,prompt\n");
        for (var i = 0; i < lines; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"UP-{i},a lamp in a sunny room number {i}\n");
        }

        csv.Append("UP-bad,\n"); // one line without a prompt: reported, not stored
        var response = await http.PostAsync("/api/batches/big-upload/import?model=gpt_image_2", new StringContent(csv.ToString(), Encoding.UTF8, "text/csv"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var follow = accepted.GetProperty("follow").GetString()!;
        Assert.Equal(follow, response.Headers.Location!.OriginalString);
        JsonElement status = default;
        await harness.WaitUntilAsync(async () =>
        {
            status = JsonDocument.Parse(await http.GetStringAsync(follow)).RootElement;
            return status.GetProperty("jobState").GetString() == "Succeeded";
        }, TimeSpan.FromSeconds(60), "the import job succeeded");

        var report = status.GetProperty("upload").GetProperty("report");
        Assert.Equal(lines, report.GetProperty("inserted").GetInt64());
        Assert.Equal(1, report.GetProperty("invalid").GetInt64());
        Assert.Equal(lines, await harness.ScalarAsync("select count(*) from generation_requests r join batches b on b.id = r.batch_id where b.name = 'big-upload'"));
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from catalogue_upload_chunks"));
        var details = await http.GetStringAsync(accepted.GetProperty("dashboard").GetString());
        Assert.Contains("Import catalogue upload", details, StringComparison.Ordinal);
        Assert.Contains(worker.Output, l => l.Contains($"into big-upload: {lines} new", StringComparison.Ordinal));
    }
}
