using System.Globalization;
using System.Security.Cryptography;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Catalogues;

/// <summary>Nightly schedules run as Hangfire recurring jobs, and output images stored on disk.</summary>
public sealed class ScheduleAndOutputTests
{
    private static string ExampleCatalogue => Path.Combine(AppContext.BaseDirectory, "examples", "catalogue.csv");

    private static (string Key, string Value)[] Schedule(string inbox, string cron, string window = "01:00:00") =>
    [
        ("Schedules:0:Name", "nightly"),
        ("Schedules:0:Cron", cron),
        ("Schedules:0:TimeZone", "Europe/Berlin"),
        ("Schedules:0:Inbox", inbox),
        ("Schedules:0:Pattern", "*.csv"),
        ("Schedules:0:MisfireWindow", window),
        ("Schedules:0:Defaults:model", "gpt_image_2"),
    ];

    [Fact]
    public async Task AScheduledRun_ImportsTheInbox_ArchivesTheFile_AndFiringAgainImportsNothingTwice()
    {
        using var inboxFolder = TempFolder.Create("aireiter-inbox-");
        var inbox = inboxFolder.Path;
        await using var harness = await EngineHarness.StartAsync("schedule", EngineHarness.FastSimulator(), Schedule(inbox, "0/2 * * * * ?"));
        File.Copy(ExampleCatalogue, Path.Combine(inbox, "catalogue.csv"));
        await File.WriteAllTextAsync(Path.Combine(inbox, "broken.csv"), "");
        var worker = await harness.StartWorkerAsync();

        var night = TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin")).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        // The reports are written after the files are moved: wait for them too.
        await harness.WaitUntilAsync(() => Task.FromResult(
                !File.Exists(Path.Combine(inbox, "catalogue.csv")) && !File.Exists(Path.Combine(inbox, "broken.csv"))
                && File.Exists(Path.Combine(inbox, "archive", night, "catalogue.csv.report.txt"))
                && File.Exists(Path.Combine(inbox, "rejected", night, "broken.csv.report.txt"))),
            TimeSpan.FromSeconds(20), "the inbox emptied and reported");
        Assert.True(File.Exists(Path.Combine(inbox, "archive", night, "catalogue.csv")));
        Assert.True(File.Exists(Path.Combine(inbox, "archive", night, "catalogue.csv.report.txt"))); // it had one bad line
        Assert.Contains("The file is empty", await File.ReadAllTextAsync(Path.Combine(inbox, "rejected", night, "broken.csv.report.txt")), StringComparison.Ordinal);
        Assert.Equal(8, await harness.ScalarAsync($"select count(*) from generation_requests r join batches b on b.id = r.batch_id where b.name = 'nightly-{night}-catalogue' and b.source = 'schedule'"));

        // The same file dropped again the same night: the next firing imports it into the same batch, adding nothing.
        File.Copy(ExampleCatalogue, Path.Combine(inbox, "catalogue.csv"));
        await harness.WaitUntilAsync(() => Task.FromResult(!File.Exists(Path.Combine(inbox, "catalogue.csv"))), TimeSpan.FromSeconds(20), "picked up again");
        await worker.WaitForLineAsync("0 new, 8 already present", TimeSpan.FromSeconds(30));
        Assert.Equal(8, await harness.ScalarAsync("select count(*) from generation_requests"));
    }

    [Theory]
    [InlineData("00:05:00", true)]
    [InlineData("00:00:01", false)]
    public async Task ARunMissedWhileEveryNodeWasDown_FiresOnceWhenBack_OnlyWithinTheMisfireWindow(string window, bool fires)
    {
        using var inboxFolder = TempFolder.Create("aireiter-missed-");
        var inbox = inboxFolder.Path;
        // Daily, at a time 10 s before the test began (Berlin time): today's run has just been missed, tomorrow's is far away.
        var due = DateTimeOffset.UtcNow.AddSeconds(-10);
        var local = TimeZoneInfo.ConvertTime(due, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"));
        var cron = string.Create(CultureInfo.InvariantCulture, $"{local.Second} {local.Minute} {local.Hour} * * ?");
        await using var harness = await EngineHarness.StartAsync("missed", EngineHarness.FastSimulator(), Schedule(inbox, cron, window));
        var first = await harness.StartWorkerAsync("before");
        Assert.Equal(0, await first.StopAsync()); // every node down
        Assert.True(await StoredNextRunAsync(harness) > DateTimeOffset.UtcNow.AddHours(23));
        // As the store looks when the cluster went down yesterday, after that day's run: last run a day ago, next one today.
        await MakeMissedAsync(harness, lastRun: due.AddDays(-1), nextRun: due);
        File.Copy(ExampleCatalogue, Path.Combine(inbox, "catalogue.csv"));

        var back = await harness.StartWorkerAsync("after");
        var imported = async () => await harness.ScalarAsync("select count(*) from generation_requests") > 0;
        if (fires)
        {
            await harness.WaitUntilAsync(imported, TimeSpan.FromSeconds(20), "the missed run fired");
            await back.WaitForLineAsync("Schedule nightly runs for");
            Assert.Single(back.Output, l => l.Contains("Schedule nightly runs for", StringComparison.Ordinal));
        }
        else
        {
            // The node skips the run before its Hangfire server starts: the stored next run is tomorrow's, so none can fire late.
            await back.WaitForLineAsync("outside its misfire window", TimeSpan.FromSeconds(20));
            Assert.True(await StoredNextRunAsync(harness) > DateTimeOffset.UtcNow.AddHours(23));
            Assert.False(await imported());
            Assert.True(File.Exists(Path.Combine(inbox, "catalogue.csv")));
            Assert.DoesNotContain(back.Output, l => l.Contains("Schedule nightly runs for", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task ARunDueWhileAnotherNodeIsUp_IsNotSkipped_HoweverShortTheWindow()
    {
        using var inboxFolder = TempFolder.Create("aireiter-up-");
        var inbox = inboxFolder.Path;
        var due = DateTimeOffset.UtcNow.AddSeconds(-10);
        var local = TimeZoneInfo.ConvertTime(due, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"));
        var cron = string.Create(CultureInfo.InvariantCulture, $"{local.Second} {local.Minute} {local.Hour} * * ?");
        await using var harness = await EngineHarness.StartAsync("missed-up", EngineHarness.FastSimulator(), Schedule(inbox, cron, "00:00:01"));
        // A node that is up but checks its schedules only every 5 minutes: the run below is due, not missed by the cluster.
        var up = await harness.StartWorkerAsync("up", ("Hangfire:SchedulePollingInterval", "00:05:00"));
        await MakeMissedAsync(harness, lastRun: due.AddDays(-1), nextRun: due);
        File.Copy(ExampleCatalogue, Path.Combine(inbox, "catalogue.csv"));

        var joining = await harness.StartWorkerAsync("joining");
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync("select count(*) from generation_requests") > 0,
            TimeSpan.FromSeconds(20), "the due run fired");
        bool Announced(string line) => line.Contains("Schedule nightly runs for", StringComparison.Ordinal);
        await harness.WaitUntilAsync(() => Task.FromResult(up.Output.Concat(joining.Output).Any(Announced)), TimeSpan.FromSeconds(30),
            "the run's log line read from either node");
        Assert.DoesNotContain(joining.Output, l => l.Contains("outside its misfire window", StringComparison.Ordinal));
        Assert.Single(up.Output.Concat(joining.Output), Announced);
    }

    /// <summary>Sets the last and next run Hangfire keeps for the schedule (its hash, and the score it finds due jobs by).</summary>
    private static async Task MakeMissedAsync(EngineHarness harness, DateTimeOffset lastRun, DateTimeOffset nextRun)
    {
        await using var command = harness.DataSource.CreateCommand("""
            delete from hangfire.hash where key = 'recurring-job:schedule:nightly' and field in ('LastExecution', 'NextExecution');
            insert into hangfire.hash (key, field, value) values
                ('recurring-job:schedule:nightly', 'LastExecution', @last), ('recurring-job:schedule:nightly', 'NextExecution', @next);
            update hangfire.set set score = @score where key = 'recurring-jobs' and value = 'schedule:nightly';
            """);
        command.Parameters.AddWithValue("last", lastRun.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("next", nextRun.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("score", (double)nextRun.ToUnixTimeSeconds());
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The next run Hangfire keeps for the schedule in its own tables.</summary>
    internal static async Task<DateTimeOffset> StoredNextRunAsync(EngineHarness harness)
    {
        await using var command = harness.DataSource.CreateCommand(
            "select value from hangfire.hash where key = 'recurring-job:schedule:nightly' and field = 'NextExecution'");
        // Hangfire keeps it as Unix milliseconds.
        return DateTimeOffset.FromUnixTimeMilliseconds(long.Parse((string)(await command.ExecuteScalarAsync())!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Outputs_AreDownloaded_WithTheirSha256_AndAFailingDownloadIsVisibleWithoutFailingTheRequest()
    {
        using var storeFolder = TempFolder.Create("aireiter-outputs-");
        var store = storeFolder.Path;
        await using var harness = await EngineHarness.StartAsync("downloads", EngineHarness.FastSimulator(),
            ("Storage:OutputDirectory", store), ("Storage:MaxDownloadAttempts", "2"), ("Storage:DownloadRetryDelay", "00:00:00.100"));
        await harness.StartWorkerAsync();
        var batch = await harness.ScalarAsync("insert into batches (name, source) values ('shoot', 'api') returning id");
        var enqueued = await harness.Enqueuer.EnqueueAsync(
            [EngineHarness.Request("SKU/1") with { BatchId = batch }, EngineHarness.Request("SKU-2") with { BatchId = batch }], "shoot", CancellationToken.None);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
            "select count(*) from request_outputs where download_state = 'stored'") == 2, TimeSpan.FromSeconds(30), "both stored");

        foreach (var (key, result) in new[] { ("SKU_1", enqueued[0]), ("SKU-2", enqueued[1]) })
        {
            var task = harness.Simulator.Upstream.FindByOutTaskId(result.OutTaskId!)!;
            var expected = Convert.ToHexStringLower(SHA256.HashData(PngImages.For(task.TaskId, 0, 64)));
            var path = Path.Combine(store, "shoot", $"{key}-0.png");
            Assert.Equal(expected, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path))));
            Assert.Equal(1, await harness.ScalarAsync(
                $"select count(*) from request_outputs where sha256 = '{expected}' and content_type = 'image/png' and stored_path = '{path}' and size_bytes > 0"));
        }

        harness.Simulator.Options.Faults.ImageErrorRate = 1;
        var broken = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("SKU-3") with { BatchId = batch }], "shoot", CancellationToken.None);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
            "select count(*) from request_outputs where download_state = 'failed'") == 1, TimeSpan.FromSeconds(30), "the download given up");

        Assert.Equal(RequestState.Succeeded, (await harness.ReadAsync())[broken[0].OutTaskId!].State);
        Assert.Equal(1, await harness.ScalarAsync("select count(*) from request_outputs where download_state = 'failed' and download_attempts = 2 and download_error like 'attempt 2:%500%'"));
    }
}
