using System.Net;
using System.Net.Http.Json;
using Aireiter.Jobs.Housekeeping;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Sample;
using Aireiter.Jobs.Tests.Engine;
using Aireiter.Jobs.Tests.Infrastructure;
using Hangfire;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Routing;
using Microsoft.Playwright;

namespace Aireiter.Jobs.Tests.Hosting;

/// <summary>
/// The engine as a library: the sample app (its own Hangfire storage, server, dashboard and job) with
/// <c>AddAireiterJobs</c> / <c>MapAireiterJobs</c>, hosted here against real PostgreSQL and the simulator.
/// </summary>
[Collection(HangfireStatics.Name)]
public sealed class LibraryHostTests
{
    [Fact]
    public async Task AnAppsOwnHangfireJob_AndTheEngine_RunSideBySide_AndOneDashboardShowsBoth()
    {
        await using var harness = await EngineHarness.StartAsync("library-host", EngineHarness.FastSimulator());
        var port = FreePort.Next();
        // The engine's settings in the app's AireiterJobs section; the app's own Hangfire on the same database here.
        string[] args =
        [
            $"--urls=http://127.0.0.1:{port}",
            $"--ConnectionStrings:Hangfire={harness.Database}",
            "--Logging:LogLevel:Default=Warning",
            .. harness.Settings.Where(s => !s.Key.StartsWith("Serilog:", StringComparison.Ordinal)).Select(s => $"--AireiterJobs:{s.Key}={s.Value}"),
            "--AireiterJobs:Cluster:NodeId=shop-node",
        ];
        var app = SampleApp.Build(args, Directory.CreateTempSubdirectory("sample-app").FullName);
        try
        {
            await app.StartAsync();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

            // The app's job, through the app's endpoint, on the app's Hangfire server.
            var reminder = await http.PostAsync("/reminders/acme", null);
            Assert.Equal(HttpStatusCode.Accepted, reminder.StatusCode);
            // The engine's request, through the engine's API, on the engine's loops.
            var created = await http.PostAsJsonAsync("/api/requests", new
            {
                model = "gpt_image_2",
                @params = new { prompt = "a teapot on white", aspect_ratio = "1:1", resolution = "2K" },
                key = "teapot",
                batch = "shop-catalogue",
            });
            Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
            var outTaskId = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>())[0].GetProperty("outTaskId").GetString()!;
            // The engine's own Hangfire job, run now on the app's server (activated from the app's services).
            app.Services.GetRequiredService<IRecurringJobManager>().Trigger(RetentionJob.RecurringJobId);

            var storage = app.Services.GetRequiredService<JobStorage>();
            await harness.WaitUntilAsync(async () =>
            {
                var succeeded = storage.GetMonitoringApi().SucceededJobs(0, 50).Select(j => j.Value.Job?.Type.Name).ToList();
                var requests = await harness.ReadAsync();
                return succeeded.Contains(nameof(InvoiceReminders)) && succeeded.Contains(nameof(RetentionJob))
                       && requests.TryGetValue(outTaskId, out var teapot) && teapot.State == RequestState.Succeeded;
            }, TimeSpan.FromSeconds(60), "the app's job, the engine's retention job and the engine's request to succeed");

            // A parameter the engine's API cannot read is a problem that names it; the app's own endpoint keeps the app's rules.
            var engineBad = await http.GetAsync("/api/requests?limit=many");
            Assert.Equal(HttpStatusCode.BadRequest, engineBad.StatusCode);
            Assert.Contains("\"limit\"", await engineBad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var appBad = await http.PostAsync("/reminders/acme?inDays=soon", null);
            Assert.Equal(HttpStatusCode.BadRequest, appBad.StatusCode);
            Assert.Equal("", await appBad.Content.ReadAsStringAsync());
            Assert.False(app.Services.GetRequiredService<IOptions<RouteHandlerOptions>>().Value.ThrowOnBadRequest);

            // One dashboard, the app's: the engine's Generation pages read through the engine's API, beside the app's jobs.
            await using var browser = await Browser.LaunchAsync();
            var page = await browser.OpenAsync(new Uri(http.BaseAddress, "/hangfire/generation"));
            await Assertions.Expect(page.Locator(".card[data-state='succeeded'] .n")).ToHaveTextAsync("1");
            await Assertions.Expect(page.Locator("#node")).ToContainTextAsync("shop-node");
            await Browser.ScreenshotAsync(page, "library-generation");
            await page.GotoAsync(new Uri(http.BaseAddress, "/hangfire/jobs/succeeded").ToString());
            await Assertions.Expect(page.GetByText("InvoiceReminders.Send").First).ToBeVisibleAsync();
            await Assertions.Expect(page.GetByText("Prune old request events").First).ToBeVisibleAsync();
            await page.GotoAsync(new Uri(http.BaseAddress, "/hangfire/recurring").ToString());
            await Assertions.Expect(page.GetByText("invoice-reminders").First).ToBeVisibleAsync();
            await Assertions.Expect(page.GetByText(RetentionJob.RecurringJobId).First).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator(".navbar a:has-text('Generation')")).ToBeVisibleAsync();
            await Browser.ScreenshotAsync(page, "library-recurring");

            await app.StopAsync();
        }
        finally
        {
            await app.DisposeAsync();
            HangfireStatics.ForgetHostedApp();
        }
    }

    [Theory]
    [InlineData("Engine:MaxConcurentSubmits", "4",
        "Unknown setting: 'AireiterJobs:Engine:MaxConcurentSubmits' is not a setting (did you mean 'AireiterJobs:Engine:MaxConcurrentSubmits'?).")]
    [InlineData("Engine:IdleTick", "soon", "A setting is wrong: AireiterJobs:Engine:IdleTick must be a duration such as 00:00:05.")]
    public void AMisspeltOrUnreadableSetting_InTheEnginesSection_StopsTheAppsStartUp_AndNamesIt(string key, string value, string expected)
    {
        string[] args = ["--AireiterJobs:ConnectionStrings:Jobs=Host=127.0.0.1;Database=unused", $"--AireiterJobs:{key}={value}"];

        var error = Assert.Throws<Aireiter.Jobs.AspNetCore.SettingsException>(() => SampleApp.Build(args, Directory.CreateTempSubdirectory("sample-app").FullName));

        Assert.Equal(expected, error.Message);
    }
}
