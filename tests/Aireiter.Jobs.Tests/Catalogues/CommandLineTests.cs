using System.Security.Cryptography;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Catalogues;

/// <summary>The verbs a catalogue team uses, run as the real executable against PostgreSQL and the simulator.</summary>
public sealed class CommandLineTests
{
    private static string ExampleCatalogue => Path.Combine(AppContext.BaseDirectory, "examples", "catalogue.csv");

    [Fact]
    public async Task Enqueue_TheExampleCatalogue_ImportsTheGoodLines_ExitsTwoForTheBadOne_AndAddsNothingTheSecondTime()
    {
        await using var harness = await EngineHarness.StartAsync("cli-enqueue", EngineHarness.FastSimulator());

        var dry = await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue, "--dry-run");
        var first = await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue);
        var second = await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue);

        Assert.Equal(2, dry.ExitCode);
        Assert.Contains("Dry run of catalogue.csv", dry.Output, StringComparison.Ordinal);
        Assert.Contains("Estimated credits: ~80", dry.Output, StringComparison.Ordinal);
        Assert.Contains("line 10, aspect_ratio: '7:3' is not offered by gpt_image_2", dry.Output, StringComparison.Ordinal);
        Assert.Equal(2, first.ExitCode);
        Assert.Contains("8 new, 0 already present", first.Output, StringComparison.Ordinal);
        Assert.Contains("0 new, 8 already present", second.Output, StringComparison.Ordinal);
        Assert.Equal(8, await harness.ScalarAsync("select count(*) from generation_requests"));
    }

    [Fact]
    public async Task Enqueue_StrictOrRefusedFiles_StoreNothing_AndExitWithTheirOwnCodes()
    {
        await using var harness = await EngineHarness.StartAsync("cli-refused", EngineHarness.FastSimulator());
        var semicolons = Path.Combine(Path.GetTempPath(), $"semi-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(semicolons, "key;prompt;model\nA;a lamp;gpt_image_2\n");

        var strict = await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue, "--strict");
        var refused = await WorkerProcess.RunAsync(harness.Settings, "enqueue", semicolons);
        var missing = await WorkerProcess.RunAsync(harness.Settings, "enqueue", "/nowhere/catalogue.csv");
        var accepted = await WorkerProcess.RunAsync(harness.Settings, "enqueue", semicolons, "--delimiter", ";");
        var headerOnly = Path.Combine(Path.GetTempPath(), $"header-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(headerOnly, "key,prompt,model\n");
        var noLines = await WorkerProcess.RunAsync(harness.Settings, "enqueue", headerOnly);
        var longPrompt = Path.Combine(Path.GetTempPath(), $"long-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(longPrompt, $"key,prompt,model\nLONG-1,{new string('w', 5 * 1024 * 1024)},gpt_image_2\n");
        var tooLong = await WorkerProcess.RunAsync(harness.Settings, "enqueue", longPrompt);

        Assert.Equal(2, strict.ExitCode);
        Assert.Contains("nothing was stored (--strict)", strict.Output, StringComparison.Ordinal);
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains("looks ';'-separated", refused.Output, StringComparison.Ordinal);
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("No such file", missing.Output, StringComparison.Ordinal);
        Assert.Equal(0, accepted.ExitCode);
        Assert.Equal(3, noLines.ExitCode);
        Assert.Contains("a header but no lines", noLines.Output, StringComparison.Ordinal);
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("line 2, prompt: is 5,242,880 characters; the limit is 32,000", tooLong.Output, StringComparison.Ordinal);
        Assert.Equal(1, await harness.ScalarAsync("select count(*) from generation_requests"));
        File.Delete(semicolons);
        File.Delete(headerOnly);
        File.Delete(longPrompt);
    }

    [Fact]
    public async Task AMistypedOptionOrAStrayArgument_IsRefusedAndNamed_WhileSettingOverridesStillWork()
    {
        await using var harness = await EngineHarness.StartAsync("cli-options", EngineHarness.FastSimulator());

        var typo = await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue, "--bacth", "night");
        var stray = await WorkerProcess.RunAsync(harness.Settings, "status", "living", "extra");
        var overridden = await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue, "--dry-run", "--Engine:MaxPromptLength=10");

        Assert.Equal(1, typo.ExitCode);
        Assert.Contains("'--bacth' is not an option of 'enqueue' (did you mean '--batch'?)", typo.Output, StringComparison.Ordinal);
        Assert.Equal(1, stray.ExitCode);
        Assert.Contains("'extra' is not expected here: 'status' takes BATCH", stray.Output, StringComparison.Ordinal);
        Assert.Equal(0, await harness.ScalarAsync("select count(*) from generation_requests"));
        Assert.Equal(2, overridden.ExitCode);
        Assert.Contains("the limit is 10 (Engine:MaxPromptLength)", overridden.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusExportRetryAndCancel_WorkOnABatch_WithMeaningfulExitCodes()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.SafetyWords = ["brass"]; // LAMP-002 will be refused by content review
        await using var harness = await EngineHarness.StartAsync("cli-batch", simulator);
        await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue, "--batch", "living");
        await harness.StartWorkerAsync();
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));

        var status = await WorkerProcess.RunAsync(harness.Settings, "status", "living");
        var csvFile = Path.Combine(Path.GetTempPath(), $"export-{Guid.NewGuid():N}.csv");
        var export = await WorkerProcess.RunAsync(harness.Settings, "export", "living", "-o", csvFile);
        var lines = await File.ReadAllLinesAsync(csvFile);
        var unknown = await WorkerProcess.RunAsync(harness.Settings, "status", "no-such-batch");

        Assert.Equal(0, status.ExitCode);
        Assert.Contains("8/8 final: 7 succeeded, 1 failed", status.Output, StringComparison.Ordinal);
        Assert.Equal(0, export.ExitCode);
        Assert.Equal("key,out_task_id,state,output_urls,stored_files,credits_used,error", lines[0]);
        Assert.Equal(9, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("CHAIR-001,k-", StringComparison.Ordinal) && l.Contains(",succeeded,http://127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("LAMP-002,", StringComparison.Ordinal) && l.Contains(",failed,", StringComparison.Ordinal)
                                    && l.Contains("content safety review", StringComparison.Ordinal));
        Assert.Equal(4, unknown.ExitCode);

        harness.Simulator.Options.SafetyWords = [];
        var retry = await WorkerProcess.RunAsync(harness.Settings, "retry", "living", "--failed");
        Assert.Equal(0, retry.ExitCode);
        Assert.Contains("Queued 1 requests of 'living' again", retry.Output, StringComparison.Ordinal);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(30));
        Assert.All((await harness.ReadAsync()).Values, r => Assert.Equal(RequestState.Succeeded, r.State));
        // The retry went upstream as a new task, under its own id.
        Assert.Contains(harness.Simulator.Upstream.Stats().TasksBilledPerOutTaskId.Keys, k => k.EndsWith("-r1", StringComparison.Ordinal));

        await WorkerProcess.RunAsync(harness.Settings, "enqueue", ExampleCatalogue, "--batch", "later",
            "--not-before", DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
        var cancel = await WorkerProcess.RunAsync(harness.Settings, "cancel", "later");
        Assert.Equal(0, cancel.ExitCode);
        Assert.Contains("Cancelled 8 queued and 0 running", cancel.Output, StringComparison.Ordinal);
        File.Delete(csvFile);
    }
}
