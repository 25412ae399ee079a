using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

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
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning"]);
        var app = builder.Build();
        CallbackCatcher? catcher = null;
        app.MapPost("/hook", async (HttpContext context) =>
        {
            catcher!.Received.Enqueue((JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!);
            return Results.Ok();
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        catcher = new CallbackCatcher(app, new Uri(new Uri(address), "/hook"));
        return catcher;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
