using System.Globalization;
using Aireiter.Jobs.Monitoring;
using Hangfire;
using Hangfire.Dashboard;

namespace Aireiter.Jobs.AspNetCore.Dashboard;

/// <summary>
/// Puts the product into Hangfire's dashboard: the "Generation" menu and its pages, the script and styles they use
/// (in Hangfire's own bundles, dark mode included), and the product's tiles on Hangfire's home page.
/// </summary>
public static class GenerationDashboard
{
    public const string Root = "/generation";
    private static readonly object Registered = new();
    private static bool _done;

    /// <summary>
    /// Hangfire's routes, menu, bundles and home-page metrics are process-wide (whichever app's dashboard shows them, and
    /// however many hosts start in one process): they are added once.
    /// </summary>
    internal static void Register()
    {
        lock (Registered)
        {
            if (_done)
            {
                return;
            }

            foreach (var (view, _) in GenerationPage.Views)
            {
                var path = view == "overview" ? Root : $"{Root}/{view}";
                DashboardRoutes.Routes.AddRazorPage(path, _ => new GenerationPage(view));
            }

            DashboardRoutes.Routes.AddRazorPage($"{Root}/requests/(?<id>[A-Za-z0-9_-]{{1,64}})",
                match => new GenerationPage("request", match.Groups["id"].Value));
            NavigationMenu.Items.Add(page => new MenuItem("Generation", page.Url.To(Root))
            {
                Active = page.RequestPath.StartsWith(Root, StringComparison.Ordinal),
            });

            var assembly = typeof(GenerationDashboard).Assembly;
            GlobalConfiguration.Configuration
                .UseDashboardJavaScript(assembly, "Aireiter.Jobs.AspNetCore.Dashboard.site.generation.js")
                .UseDashboardStylesheet(assembly, "Aireiter.Jobs.AspNetCore.Dashboard.site.generation.css")
                .UseDashboardStylesheetDarkMode(assembly, "Aireiter.Jobs.AspNetCore.Dashboard.site.generation-dark.css")
                .UseDashboardMetrics(Tiles());
            _done = true;
        }
    }

    /// <summary>The product's figures on Hangfire's home page; one read of the stats serves every tile of a page.</summary>
    private static DashboardMetric[] Tiles() =>
    [
        Tile("generation:queued", "Queued", t => new Metric(t.Queued) { Style = MetricStyle.Info }),
        Tile("generation:in-flight", "In flight", t => new Metric(t.InFlight) { Style = MetricStyle.Warning }),
        Tile("generation:succeeded-today", "Succeeded today", t => new Metric(t.SucceededToday) { Style = MetricStyle.Success }),
        Tile("generation:failed-today", "Failed today", t => new Metric(t.FailedToday)
        {
            Style = t.FailedToday > 0 ? MetricStyle.Danger : MetricStyle.Default,
            Highlighted = t.FailedToday > 0,
        }),
        Tile("generation:credits-today", "Credits today", t => new Metric(t.CreditsToday.ToString("0.##", CultureInfo.InvariantCulture)
            + (t.DailyBudget is { } budget ? $" / {budget.ToString("0.##", CultureInfo.InvariantCulture)}" : ""))
        {
            Style = t.DailyBudget is { } b && t.CreditsToday >= b ? MetricStyle.Danger : MetricStyle.Default,
        }),
        Tile("generation:submitting", "Submitting", t => t.PausedBy is { } reason
            ? new Metric($"paused ({reason.Replace('_', ' ')})") { Style = MetricStyle.Danger, Highlighted = true }
            : new Metric("running") { Style = MetricStyle.Success }),
    ];

    private static DashboardMetric Tile(string name, string title, Func<DashboardTiles, Metric> value) =>
        new(name, title, page => value(DashboardTiles.For(page.Context.GetHttpContext())));
}
