using Aireiter.Jobs.AspNetCore.Api;
using Aireiter.Jobs.AspNetCore.Dashboard;
using Hangfire;
using Hangfire.Dashboard;

namespace Aireiter.Jobs.Worker.Dashboard;

/// <summary>
/// The one dashboard: Hangfire's, at <c>/hangfire</c>, with the product's "Generation" pages inside it
/// (<see cref="GenerationDashboard"/>). Who may see it and act is decided by <see cref="AccessControl"/>, the same rules
/// as <c>/api</c>, so Hangfire's own filter (local requests only) is replaced by one that lets those rules stand.
/// </summary>
public static class DashboardEndpoints
{
    public const string Path = "/hangfire";

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.MapHangfireDashboard(Path, new DashboardOptions
        {
            DashboardTitle = "Aireiter.Jobs",
            AppPath = null,
            // Hangfire shows the storage's connection string in its footer by default: never here.
            DisplayStorageConnectionString = false,
            Authorization = [new AccessControlDecides()],
            // Dashboard users in read-only mode see no action buttons; AccessControl refuses their POSTs as well.
            IsReadOnlyFunc = context => AccessControl.IsReadOnlyFor(context.GetHttpContext()),
            StatsPollingInterval = 3000,
        });

        // The standalone dashboard of earlier versions lived here; its pages are now under Generation.
        app.MapGet("/", () => Results.Redirect($"{Path}{GenerationDashboard.Root}")).ExcludeFromDescription();
        app.MapGet("/dashboard/{**rest}", () => Results.Redirect($"{Path}{GenerationDashboard.Root}")).ExcludeFromDescription();

        return app;
    }

    /// <summary><see cref="AccessControl"/> has already let the request through (or answered 401/403) before Hangfire sees it.</summary>
    private sealed class AccessControlDecides : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context) => true;
    }
}
