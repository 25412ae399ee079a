using System.Net;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;

namespace Aireiter.Jobs.AspNetCore.Dashboard;

/// <summary>
/// One page of the "Generation" section inside Hangfire's dashboard: Hangfire's layout and navigation around a
/// container that <c>generation.js</c> (in Hangfire's script bundle) fills from <c>/api</c> and refreshes. Every view
/// reads and acts through the API, so nothing bypasses its rules; the read-only flag hides the actions.
/// </summary>
public sealed class GenerationPage(string view, string? id = null) : RazorPage
{
    /// <summary>The views, in menu order: route segment and title.</summary>
    public static readonly (string View, string Title)[] Views =
    [
        ("overview", "Overview"),
        ("batches", "Batches"),
        ("requests", "Requests"),
        ("failures", "Failures"),
        ("schedules", "Schedules"),
    ];

    public override void Execute()
    {
        var title = view == "request" ? "Request" : Views.First(v => v.View == view).Title;
        Layout = new LayoutPage(title == "Overview" ? "Generation" : $"Generation · {title}");
        var root = Url.To(GenerationDashboard.Root);
        // The API lives beside the dashboard in the same app: the app's path base, without the dashboard's own segment.
        var http = Context.GetHttpContext();
        var options = http.RequestServices.GetRequiredService<AireiterJobsOptions>();
        var dashboard = options.DashboardPath;
        var pathBase = http.Request.PathBase.Value ?? "";
        var app = pathBase.EndsWith(dashboard, StringComparison.Ordinal) ? pathBase[..^dashboard.Length] : pathBase;
        var api = Enc(app + "/api");

        WriteLiteral("<div class=\"row\"><div class=\"col-md-3\"><div class=\"list-group generation-menu\">");
        foreach (var (segment, text) in Views)
        {
            var active = segment == view || (segment == "requests" && view == "request") ? " active" : "";
            var href = segment == "overview" ? root : $"{root}/{segment}";
            WriteLiteral($"<a class=\"list-group-item{active}\" data-view=\"{segment}\" href=\"{Enc(href)}\">{Enc(text)}</a>");
        }

        WriteLiteral("</div></div><div class=\"col-md-9 generation\">");
        WriteLiteral($"<h1 class=\"page-header\">{Enc(title)} <small id=\"node\"></small></h1>");
        WriteLiteral("<div id=\"generation-banner\"></div>");
        WriteLiteral($"<div id=\"generation\" data-view=\"{Enc(view)}\" data-id=\"{Enc(id ?? "")}\" data-root=\"{Enc(root)}\" data-api=\"{api}\"");
        WriteLiteral($" data-readonly=\"{(IsReadOnly ? "true" : "false")}\"><p class=\"text-muted\">Loading…</p></div>");
        WriteLiteral("<p class=\"text-muted small generation-footer\"><span id=\"updated\"></span>");
        foreach (var (text, path) in new[] { ("API reference", options.ApiReferencePath), ("OpenAPI", options.OpenApiPath) })
        {
            if (path is not null)
            {
                WriteLiteral($" · <a href=\"{Enc(app + path)}\">{Enc(text)}</a>");
            }
        }

        WriteLiteral("</p>");
        WriteLiteral("</div></div>");
    }

    private static string Enc(string value) => WebUtility.HtmlEncode(value);
}
