using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>
/// The paths one <see cref="AccessControl"/> guards: read like the API (by a program, with the API key), or like the
/// dashboard (by people, who may sign in). Other paths pass untouched.
/// </summary>
public sealed record AccessScope(IReadOnlyList<string> Api, IReadOnlyList<string> Dashboard)
{
    /// <summary>The engine's API: what <see cref="Extensions.MapAireiterJobs"/> guards in any host.</summary>
    public static readonly AccessScope EngineApi = new(["/api"], []);
}

/// <summary>
/// Guards the paths of its <see cref="AccessScope"/>: in any host the engine's <c>/api</c>; in the standalone host also
/// <c>/metrics</c> and the dashboard (<c>/hangfire</c>, Hangfire's pages and actions included, and the old
/// <c>/dashboard</c> address). Loopback when allowed, else an API key or dashboard credentials. Read-only mode lets
/// dashboard users look but not act (Hangfire's live statistics, a POST that only reads, stay allowed). Everything
/// else gets 401 (or 403) and changes nothing.
/// </summary>
public sealed class AccessControl(RequestDelegate next, IOptionsMonitor<AccessOptions> options, AccessScope scope)
{
    private static readonly object ReadOnlyKey = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        // /metrics is read like the API: by a scraper on this machine, or one that brings the API key.
        var api = scope.Api.Any(p => path.StartsWithSegments(p));
        var dashboard = scope.Dashboard.FirstOrDefault(p => path.StartsWithSegments(p));
        if (!api && dashboard is null)
        {
            await next(context);
            return;
        }

        var access = options.CurrentValue;
        var caller = Identify(context, access);
        if (caller == Caller.None)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            if (!api || access.Users.Count > 0)
            {
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"Aireiter.Jobs\", charset=\"UTF-8\"";
            }

            await Results.Problem(
                    api ? "An API key is required (X-Api-Key or Authorization: Bearer), or dashboard credentials." : "Sign in to see the dashboard.",
                    statusCode: 401, title: "Unauthorized")
                .ExecuteAsync(context);
            return;
        }

        var readOnly = access.ReadOnly && caller != Caller.ApiKey;
        context.Items[ReadOnlyKey] = readOnly;
        var acting = !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
                     && !(dashboard is not null && path.Equals($"{dashboard}/stats", StringComparison.Ordinal));
        if (acting && readOnly)
        {
            await Results.Problem("The dashboard is read-only here (Access:ReadOnly).", statusCode: 403, title: "Forbidden").ExecuteAsync(context);
            return;
        }

        if (api)
        {
            var limit = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>();
            if (limit is { IsReadOnly: false })
            {
                limit.MaxRequestBodySize = path.Value!.EndsWith("/import", StringComparison.Ordinal) ? access.MaxImportBytes : access.MaxBodyBytes;
            }
        }

        await next(context);
    }

    /// <summary>
    /// Whether this caller may only look (<c>Access:ReadOnly</c>, unless it came with an API key), as decided for this
    /// request; the dashboard hides its actions by it.
    /// </summary>
    public static bool IsReadOnlyFor(HttpContext context) => context.Items[ReadOnlyKey] is true;

    private enum Caller
    {
        None,
        Loopback,
        ApiKey,
        User,
    }

    private static Caller Identify(HttpContext context, AccessOptions access)
    {
        var headers = context.Request.Headers;
        var key = headers["X-Api-Key"].ToString();
        var authorization = headers.Authorization.ToString();
        if (key.Length == 0 && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            key = authorization["Bearer ".Length..].Trim();
        }

        if (key.Length > 0 && Matches(key, access.ApiKeys))
        {
            return Caller.ApiKey;
        }

        if (authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) && ValidUser(authorization["Basic ".Length..].Trim(), access.Users))
        {
            return Caller.User;
        }

        var remote = context.Connection.RemoteIpAddress;
        return access.AllowLoopback && remote is not null && IPAddress.IsLoopback(remote) && !Forwarded(context) ? Caller.Loopback : Caller.None;
    }

    /// <summary>A request relayed by a proxy on this machine is not a local one.</summary>
    private static bool Forwarded(HttpContext context) =>
        context.Request.Headers.ContainsKey("X-Forwarded-For") || context.Request.Headers.ContainsKey("Forwarded");

    private static bool Matches(string given, List<string> keys)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(given));
        var found = false;
        foreach (var key in keys)
        {
            // Every key is compared, in constant time, so timing tells nothing about which part matched.
            found |= CryptographicOperations.FixedTimeEquals(hash, AccessOptions.Hash(key));
        }

        return found;
    }

    private static bool ValidUser(string encoded, List<string> users)
    {
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        catch (FormatException)
        {
            return false;
        }

        var separator = decoded.IndexOf(':', StringComparison.Ordinal);
        if (separator <= 0)
        {
            return false;
        }

        var name = decoded[..separator];
        var password = SHA256.HashData(Encoding.UTF8.GetBytes(decoded[(separator + 1)..]));
        var found = false;
        foreach (var user in users)
        {
            var parts = user.Split(':', 2);
            found |= parts.Length == 2 && parts[0] == name && CryptographicOperations.FixedTimeEquals(password, AccessOptions.Hash(parts[1]));
        }

        return found;
    }
}
