using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Worker.Upstream;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Worker.Dashboard;

/// <summary>
/// The dashboard: plain HTML, CSS and JavaScript served at <c>/dashboard</c>. Every page reads and acts through
/// <c>/api</c>, so nothing bypasses the API's rules; the access rules of <c>/api</c> guard it too.
/// </summary>
public static class DashboardEndpoints
{
    public static WebApplication MapDashboard(this WebApplication app)
    {
        var site = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "Dashboard", "site"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = site, RequestPath = "/dashboard" });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = site,
            RequestPath = "/dashboard",
            OnPrepareResponse = c => c.Context.Response.Headers.CacheControl = "no-cache",
        });
        app.MapGet("/", () => Results.Redirect("/dashboard/")).ExcludeFromDescription();

        // What this node is: shown in the dashboard's header, so a simulator left on is seen at once.
        app.MapGet("/api/node", (UpstreamMode upstream, IOptions<ClusterOptions> cluster, EngineStatus status, IOptions<Api.AccessOptions> access) => new
        {
            nodeId = cluster.Value.NodeId,
            simulated = upstream.Simulated,
            upstream = upstream.Simulated ? "simulator" : upstream.BaseUrl.Host,
            submitBlockedBy = status.SubmitBlockedBy,
            readOnly = access.Value.ReadOnly,
        }).WithTags("Stats");
        return app;
    }
}
