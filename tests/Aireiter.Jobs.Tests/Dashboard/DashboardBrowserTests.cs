using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;
using Microsoft.Playwright;

namespace Aireiter.Jobs.Tests.Dashboard;

/// <summary>The dashboard (Hangfire's, with the Generation pages) in a real browser, against a real worker, PostgreSQL and the simulator.</summary>
public sealed class DashboardBrowserTests
{
    [Fact]
    public async Task TheOverview_ShowsTheCountsOfTheSeededData()
    {
        await using var harness = await EngineHarness.StartAsync("ui-overview", EngineHarness.FastSimulator());
        // Rows the engine will not touch: final ones, and queued ones held until tomorrow.
        await harness.ScalarAsync("""
            insert into generation_requests (out_task_id, model, params, state, due_at, not_before)
            select 'seed-' || s || '-' || n, 'gpt_image_2', '{"prompt":"p"}', s, case when s = 'queued' then now() + interval '1 day' end,
                   case when s = 'queued' then now() + interval '1 day' end
            from (values ('succeeded', 7), ('failed', 3), ('queued', 2), ('cancelled', 1), ('timed_out', 4)) as v(s, c), generate_series(1, c) n
            returning 1
            """);
        var worker = await harness.StartWorkerAsync();
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire/generation"));

        foreach (var (state, count) in new[] { ("succeeded", "7"), ("failed", "3"), ("queued", "2"), ("cancelled", "1"), ("timed_out", "4"), ("running", "0") })
        {
            await Assertions.Expect(page.Locator($".card[data-state='{state}'] .n")).ToHaveTextAsync(count);
        }

        await Assertions.Expect(page.Locator("#node")).ToContainTextAsync("node-a");
        await Browser.ScreenshotAsync(page, "overview");
    }

    [Fact]
    public async Task TheApiReference_LinkedFromTheFooter_RendersTheApiWithNoOtherHost()
    {
        await using var harness = await EngineHarness.StartAsync("ui-api-reference", EngineHarness.FastSimulator());
        var worker = await harness.StartWorkerAsync();
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire/generation"));
        // Every host but the node is unreachable, as on a machine without internet: the page must not need a CDN.
        await page.Context.RouteAsync("**/*", route => new Uri(route.Request.Url).Host == worker.BaseAddress.Host ? route.ContinueAsync() : route.AbortAsync());

        await page.ClickAsync("a:has-text('API reference')");

        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/api-reference"));
        // Rendered from the node's OpenAPI document: the first group's operations, and the other groups in the sidebar.
        await Assertions.Expect(page.GetByText("GET /api/stats").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(page.GetByText("Requests", new() { Exact = true }).First).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "api-reference");
    }

    [Fact]
    public async Task ABatchsProgressBar_MovesWhileTheSimulatorCompletesTasks()
    {
        // Half the batch finishes after about 2 s, the other half about 10 s later: a plateau at 10 / 20 that
        // several 3-second refreshes must show, however slowly the browser starts.
        var simulator = EngineHarness.FastSimulator();
        simulator.Timing = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(200), CompletedAfter = TimeSpan.FromSeconds(2), Jitter = TimeSpan.Zero };
        simulator.ModelTimings["seedream_v5_lite"] = new TaskTiming { ProcessingAfter = TimeSpan.FromMilliseconds(200), CompletedAfter = TimeSpan.FromSeconds(12), Jitter = TimeSpan.Zero };
        await using var harness = await EngineHarness.StartAsync("ui-batch", simulator, ("Aireiter:Polling:Deadline", "00:01:00"));
        var worker = await harness.StartWorkerAsync();
        await using var browser = await Browser.LaunchAsync();
        var batch = await harness.ScalarAsync("insert into batches (name, source) values ('spring-catalogue', 'file') returning id");
        var items = Enumerable.Range(0, 20)
            .Select(i => EngineHarness.Request($"SKU-{i}", model: i % 2 == 0 ? "gpt_image_2" : "seedream_v5_lite") with { BatchId = batch });
        await harness.Enqueuer.EnqueueAsync(items.ToList(), "spring-catalogue", CancellationToken.None);

        var page = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire/generation/batches"));
        var progress = page.Locator("tr[data-batch='spring-catalogue'] .progress-text");
        await Assertions.Expect(progress).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[0-9]+ / 20$"));
        var seen = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (DateTime.UtcNow < deadline && !seen.Contains("20 / 20"))
        {
            var text = await progress.InnerTextAsync();
            if (seen.Count == 0 || seen[^1] != text)
            {
                seen.Add(text);
            }

            await page.WaitForTimeoutAsync(500);
        }

        Assert.Equal("20 / 20", seen[^1]);
        Assert.True(seen.Contains("10 / 20"), $"the bar went {string.Join(" → ", seen)}: it never showed the half-finished batch");
        await Browser.ScreenshotAsync(page, "batches");
    }

    [Fact]
    public async Task TheDetailPage_ShowsTheTimeline_AThumbnailThatLoaded_AndRetryChangesAFailedRequest()
    {
        var simulator = EngineHarness.FastSimulator();
        await using var harness = await EngineHarness.StartAsync("ui-detail", simulator);
        var worker = await harness.StartWorkerAsync();
        await using var browser = await Browser.LaunchAsync();

        var done = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("CHAIR-1")], null, CancellationToken.None);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(20));
        var page = await browser.OpenAsync(new Uri(worker.BaseAddress, $"/hangfire/generation/requests/{done[0].OutTaskId}"));
        await Assertions.Expect(page.Locator("#state")).ToHaveTextAsync("succeeded");
        await Assertions.Expect(page.Locator("#timeline li")).ToHaveCountAsync(4); // enqueued, claimed, submitted, completed
        var thumbnail = page.Locator(".thumbs img").First;
        await Assertions.Expect(thumbnail).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('.thumbs img'); return i && i.complete && i.naturalWidth > 0; }");
        Assert.Equal(64, await thumbnail.EvaluateAsync<int>("i => i.naturalWidth"));
        await Browser.ScreenshotAsync(page, "request-detail");

        harness.Simulator.Options.FailureRate = 1;
        var failed = await harness.Enqueuer.EnqueueAsync([EngineHarness.Request("LAMP-2")], null, CancellationToken.None);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(20));
        harness.Simulator.Options.FailureRate = 0;
        await page.GotoAsync(new Uri(worker.BaseAddress, $"/hangfire/generation/requests/{failed[0].OutTaskId}").ToString());
        await Assertions.Expect(page.Locator("#state")).ToHaveTextAsync("failed");
        await Assertions.Expect(page.Locator(".error-text").First).ToContainTextAsync("the model returned no image");
        await Browser.ScreenshotAsync(page, "request-failed");

        await page.Locator("#retry").ClickAsync();
        await Assertions.Expect(page.Locator("#state")).Not.ToHaveTextAsync("failed", new LocatorAssertionsToHaveTextOptions { Timeout = 10_000 });
        await Assertions.Expect(page.Locator("#state")).ToHaveTextAsync("succeeded", new LocatorAssertionsToHaveTextOptions { Timeout = 20_000 });
        Assert.Equal(RequestState.Succeeded, (await harness.ReadAsync())[failed[0].OutTaskId!].State);
    }

    [Fact]
    public async Task EveryPage_Renders_AndThePauseBannerOffersResume()
    {
        var simulator = EngineHarness.FastSimulator();
        simulator.Balance = 0;
        await using var harness = await EngineHarness.StartAsync("ui-pages", simulator,
            ("Schedules:0:Name", "nightly"), ("Schedules:0:Cron", "0 0 1 * * ?"), ("Schedules:0:Inbox", Path.GetTempPath()));
        var worker = await harness.StartWorkerAsync();
        await harness.EnqueueAsync(3);
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync("select count(*) from submit_pauses") == 1, TimeSpan.FromSeconds(20), "paused");
        await using var browser = await Browser.LaunchAsync();

        var page = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire/generation/requests"));
        await Assertions.Expect(page.Locator("table.requests tr[data-id]")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator(".banner[data-pause='insufficient_credits']")).ToContainTextAsync("not enough credits");
        await Browser.ScreenshotAsync(page, "requests");
        await page.GotoAsync(new Uri(worker.BaseAddress, "/hangfire/generation/schedules").ToString());
        await Assertions.Expect(page.Locator("text=0 0 1 * * ?")).ToBeVisibleAsync();
        await page.Locator("button[data-pause='nightly']").ClickAsync();
        await Assertions.Expect(page.Locator("td.schedule-state")).ToHaveTextAsync("paused");
        Assert.Equal(1, await harness.ScalarAsync("select count(*) from schedule_pauses where name = 'nightly'"));
        await Browser.ScreenshotAsync(page, "schedules");
        await page.Locator("button[data-resume='nightly']").ClickAsync();
        await Assertions.Expect(page.Locator("td.schedule-state")).ToHaveTextAsync("active");
        await page.GotoAsync(new Uri(worker.BaseAddress, "/hangfire/generation/failures").ToString());
        await Assertions.Expect(page.Locator("#retry-all")).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "failures");

        harness.Simulator.Options.Balance = null;
        await page.Locator("#resume").ClickAsync();
        await Assertions.Expect(page.Locator(".banner[data-pause]")).ToHaveCountAsync(0);
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task HangfiresOwnPages_ShowTheTiles_TheNode_AndTheSchedule_WhoseTriggerNowImportsTheInbox()
    {
        using var inboxFolder = TempFolder.Create("aireiter-trigger-");
        var inbox = inboxFolder.Path;
        File.Copy(Path.Combine(AppContext.BaseDirectory, "examples", "catalogue.csv"), Path.Combine(inbox, "catalogue.csv"));
        await using var harness = await EngineHarness.StartAsync("ui-hangfire", EngineHarness.FastSimulator(),
            ("Schedules:0:Name", "nightly"), ("Schedules:0:Cron", "0 0 1 * * ?"), ("Schedules:0:Inbox", inbox), ("Schedules:0:Defaults:model", "gpt_image_2"));
        var worker = await harness.StartWorkerAsync();
        await using var browser = await Browser.LaunchAsync();

        var page = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire"));
        await Assertions.Expect(page).ToHaveTitleAsync(new System.Text.RegularExpressions.Regex("Aireiter.Jobs"));
        foreach (var tile in new[] { "Queued", "In flight", "Succeeded today", "Failed today", "Credits today", "Submitting" })
        {
            await Assertions.Expect(page.Locator(".metric-description", new PageLocatorOptions { HasTextString = tile }).First).ToBeVisibleAsync();
        }

        await Assertions.Expect(page.Locator(".navbar a", new PageLocatorOptions { HasTextString = "Generation" })).ToBeVisibleAsync();
        await Browser.ScreenshotAsync(page, "hangfire-home");

        await page.GotoAsync(new Uri(worker.BaseAddress, "/hangfire/servers").ToString());
        await Assertions.Expect(page.Locator("table").First).ToContainTextAsync("node-a:");

        await page.GotoAsync(new Uri(worker.BaseAddress, "/hangfire/recurring").ToString());
        var row = page.Locator("tr", new PageLocatorOptions { HasTextString = "schedule:nightly" });
        await Assertions.Expect(row).ToContainTextAsync("0 0 1 * * ?");
        await Browser.ScreenshotAsync(page, "hangfire-recurring");
        await row.Locator("input.js-jobs-list-checkbox").CheckAsync();
        await page.Locator("button.js-jobs-list-command", new PageLocatorOptions { HasTextString = "Trigger now" }).ClickAsync();

        // The file is archived after its lines are stored: both mean the run is done.
        await harness.WaitUntilAsync(async () => !File.Exists(Path.Combine(inbox, "catalogue.csv"))
                && await harness.ScalarAsync("select count(*) from generation_requests") == 8,
            TimeSpan.FromSeconds(20), "the triggered run imported and archived the catalogue");
        // Hangfire records the job as succeeded just after the method returns.
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync(
                "select count(*) from hangfire.job where statename = 'Succeeded' and invocationdata::text like '%ScheduledImportJob%'") == 1,
            TimeSpan.FromSeconds(10), "the run recorded as succeeded");
        await page.GotoAsync(new Uri(worker.BaseAddress, "/hangfire/jobs/succeeded").ToString());
        await Assertions.Expect(page.Locator("table").First).ToContainTextAsync("Import the inbox of schedule nightly");

        // The tiles count today's figures: the 8 imported requests, once finished.
        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(20));
        await page.GotoAsync(new Uri(worker.BaseAddress, "/hangfire").ToString());
        await Assertions.Expect(page.Locator("[data-metric='generation:succeeded-today']")).ToHaveTextAsync("8");
        await Assertions.Expect(page.Locator("[data-metric='generation:queued']")).ToHaveTextAsync("0");

        // Light by default; dark mode (the system's setting, as Hangfire follows it) reaches the Generation pages too.
        var light = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire/generation"));
        await Assertions.Expect(light.Locator(".card[data-state='queued']")).ToBeVisibleAsync();
        Assert.Equal("rgb(255, 255, 255)", await light.Locator(".card[data-state='queued']").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor"));
        var dark = await browser.OpenAsync(new Uri(worker.BaseAddress, "/hangfire/generation"), ColorScheme.Dark);
        await Assertions.Expect(dark.Locator(".card[data-state='queued']")).ToBeVisibleAsync();
        var background = await dark.Locator(".card[data-state='queued']").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        Assert.Equal("rgb(31, 35, 41)", background);
        await Browser.ScreenshotAsync(dark, "overview-dark");
    }
}
