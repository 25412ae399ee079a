using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>A real HTTP endpoint on loopback that records what is POSTed to it.</summary>
public sealed class CallbackCatcher : IAsyncDisposable
{
    private readonly WebApplication _app;

    private CallbackCatcher(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public ConcurrentQueue<JsonObject> Received { get; } = new();

    public static async Task<CallbackCatcher> StartAsync()
    {
        CallbackCatcher? catcher = null;
        var (app, address) = await LoopbackServer.StartAsync(app => app.MapPost("/hook", async (HttpContext context) =>
        {
            catcher!.Received.Enqueue((JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!);
            return Results.Ok();
        }));
        catcher = new CallbackCatcher(app, new Uri(address, "/hook"));
        return catcher;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
