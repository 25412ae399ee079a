using System.Diagnostics;
using System.Globalization;
using System.Text;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;

namespace Aireiter.Jobs.Tests.Catalogues;

/// <summary>Schedules as Hangfire recurring jobs across nodes: once per firing, paused across restarts, re-run after a crash.</summary>
public sealed class RecurringScheduleTests
{
    private static string ExampleCatalogue => Path.Combine(AppContext.BaseDirectory, "examples", "catalogue.csv");

    private static (string Key, string Value)[] Schedule(string inbox, string cron) =>
    [
        ("Schedules:0:Name", "nightly"),
        ("Schedules:0:Cron", cron),
        ("Schedules:0:Inbox", inbox),
        ("Schedules:0:Defaults:model", "gpt_image_2"),
    ];

    [Fact]
    public async Task TwoNodes_RunEachFiringOnce_AndImportTheFileOnce()
    {
        using var inboxFolder = TempFolder.Create("aireiter-two-");
        var inbox = inboxFolder.Path;
        await using var harness = await EngineHarness.StartAsync("schedule-two", EngineHarness.FastSimulator(), Schedule(inbox, "0/2 * * * * ?"));
        var a = await harness.StartWorkerAsync("node-a");
        var b = await harness.StartWorkerAsync("node-b");
        File.Copy(ExampleCatalogue, Path.Combine(inbox, "catalogue.csv"));

        // Several firings pass with both nodes up: the first imports the file, the others find the inbox empty.
        var runs = () => a.Output.Concat(b.Output).Where(l => l.Contains("Schedule nightly runs for", StringComparison.Ordinal)).ToList();
        var imports = () => a.Output.Concat(b.Output).Where(l => l.Contains("Schedule nightly: catalogue.csv into", StringComparison.Ordinal)).ToList();
        // The third firing starts after the import has been logged: every run that could have imported has finished.
        await harness.WaitUntilAsync(() => Task.FromResult(imports().Count > 0 && runs().Count >= 3), TimeSpan.FromSeconds(30), "three firings, the file imported");

        Assert.Single(imports());
        Assert.False(File.Exists(Path.Combine(inbox, "catalogue.csv")));
        Assert.Equal(8, await harness.ScalarAsync("select count(*) from generation_requests"));
        // Each firing ran on one node only: no due time appears twice.
        var due = runs().Select(l => l[l.IndexOf("(due", StringComparison.Ordinal)..l.IndexOf(',', l.IndexOf("(due", StringComparison.Ordinal))]).ToList();
        Assert.Equal(due.Count, due.Distinct().Count());
    }

    [Fact]
    public async Task APausedSchedule_StaysPausedAcrossARestart_AndResumingRunsItAgain()
    {
        using var inboxFolder = TempFolder.Create("aireiter-pause-");
        var inbox = inboxFolder.Path;
        await using var harness = await EngineHarness.StartAsync("schedule-pause", EngineHarness.FastSimulator(), Schedule(inbox, "0/2 * * * * ?"));
        var first = await harness.StartWorkerAsync("node-a");
        using (var http = new HttpClient { BaseAddress = first.BaseAddress })
        {
            (await http.PostAsync("/api/schedules/nightly/pause", null)).EnsureSuccessStatusCode();
        }

        Assert.Equal(0, await first.StopAsync());
        var second = await harness.StartWorkerAsync("node-a");
        using var api = new HttpClient { BaseAddress = second.BaseAddress };
        Assert.Contains("\"paused\":true", await api.GetStringAsync("/api/schedules"), StringComparison.Ordinal);
        File.Copy(ExampleCatalogue, Path.Combine(inbox, "catalogue.csv"));

        // Firings every 2 s would have taken the file by now; paused, nothing runs.
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.True(File.Exists(Path.Combine(inbox, "catalogue.csv")));
        Assert.DoesNotContain(second.Output, l => l.Contains("Schedule nightly runs for", StringComparison.Ordinal));

        (await api.PostAsync("/api/schedules/nightly/resume", null)).EnsureSuccessStatusCode();
        Assert.Contains("\"paused\":false", await api.GetStringAsync("/api/schedules"), StringComparison.Ordinal);
        await harness.WaitUntilAsync(() => Task.FromResult(!File.Exists(Path.Combine(inbox, "catalogue.csv"))), TimeSpan.FromSeconds(60), "imported after resume");
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync("select count(*) from generation_requests") == 8, TimeSpan.FromSeconds(30), "8 rows");
    }

    [Fact]
    public async Task AnImportKilledWithItsNode_RunsAgainOnAnotherNode_WithinTheInvisibilityTimeout_AndImportsNothingTwice()
    {
        const int lines = 150_000;
        using var inboxFolder = TempFolder.Create("aireiter-killed-");
        var inbox = inboxFolder.Path;
        var simulator = EngineHarness.FastSimulator();
        simulator.Balance = 0; // submitting pauses at once: the test is about the import, not 150,000 generations
        // Yearly: only "run now" fires it during the test.
        await using var harness = await EngineHarness.StartAsync("schedule-killed", simulator, Schedule(inbox, "0 0 1 1 *"));
        var csv = new StringBuilder("key,prompt\n");
        for (var i = 0; i < lines; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"K-{i},a vase number {i}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(inbox, "big.csv"), csv.ToString());
        var first = await harness.StartWorkerAsync("node-a");
        using (var http = new HttpClient { BaseAddress = first.BaseAddress })
        {
            (await http.PostAsync("/api/schedules/nightly/run", null)).EnsureSuccessStatusCode();
        }

        await first.WaitForLineAsync("Schedule nightly runs for", TimeSpan.FromSeconds(20));
        first.Kill();
        var killed = Stopwatch.StartNew();
        Assert.True(File.Exists(Path.Combine(inbox, "big.csv")), "the import finished before the node could be killed");

        var second = await harness.StartWorkerAsync("node-b");
        var ready = killed.Elapsed;
        await second.WaitForLineAsync("Schedule nightly runs for", TimeSpan.FromSeconds(30));
        var takenUp = killed.Elapsed;
        // Node-a's last extension of the job was at most a fifth of the timeout (5 s here) before the kill.
        Assert.True(takenUp - ready < TimeSpan.FromSeconds(5 + 5), $"node-b was ready {ready.TotalSeconds:0.0} s after the kill and took the job up at {takenUp.TotalSeconds:0.0} s");

        await second.WaitForLineAsync("Schedule nightly: big.csv into", TimeSpan.FromSeconds(60));
        Assert.Equal(lines, await harness.ScalarAsync("select count(*) from generation_requests"));
        Assert.Equal(lines, await harness.ScalarAsync("select count(distinct out_task_id) from generation_requests"));
        Assert.False(File.Exists(Path.Combine(inbox, "big.csv")));
        Assert.Single(second.Output, l => l.Contains("Schedule nightly runs for", StringComparison.Ordinal));
        Console.WriteLine($"killed: node-b ready after {ready.TotalSeconds:0.0} s, took the job up after {takenUp.TotalSeconds:0.0} s");
    }
}
