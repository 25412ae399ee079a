using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Worker.Api;
using Aireiter.Jobs.Worker.Upstream;
using Hangfire;
using Hangfire.Dashboard;
using Microsoft.Extensions.Options;

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

        // What this node is: shown in the Generation pages' header, so a simulator left on is seen at once.
        app.MapGet("/api/node", (UpstreamMode upstream, IOptions<ClusterOptions> cluster, EngineStatus status, IOptions<AccessOptions> options) => new
        {
            nodeId = cluster.Value.NodeId,
            simulated = upstream.Simulated,
            upstream = upstream.Simulated ? "simulator" : upstream.BaseUrl.Host,
            submitBlockedBy = status.SubmitBlockedBy,
            readOnly = options.Value.ReadOnly,
        }).WithTags("Stats");
        return app;
    }

    /// <summary><see cref="AccessControl"/> has already let the request through (or answered 401/403) before Hangfire sees it.</summary>
    private sealed class AccessControlDecides : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context) => true;
    }
}
