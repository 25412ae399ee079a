using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Aireiter.Simulator;

/// <summary>Builds the simulator as its own web app: standalone, or in-process on a loopback port.</summary>
public static class SimulatorHost
{
    public static WebApplication Build(SimulatorOptions? options, string[] args, TimeProvider? time = null,
        Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        options ??= builder.Configuration.GetSection(SimulatorOptions.Section).Get<SimulatorOptions>() ?? new SimulatorOptions();
        builder.Services.AddSingleton(new SimulatedUpstream(options, time ?? TimeProvider.System));
        builder.Services.AddHttpClient();
        builder.Services.AddHostedService<CallbackSender>();
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        var app = builder.Build();
        app.MapSimulator();
        return app;
    }

    /// <summary>Starts a simulator on 127.0.0.1 at a free port; dispose it to stop.</summary>
    public static async Task<RunningSimulator> StartAsync(SimulatorOptions options, TimeProvider? time = null,
        Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var app = Build(options, ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning"], time, logging);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RunningSimulator(app, new Uri(address), app.Services.GetRequiredService<SimulatedUpstream>());
    }

}

/// <summary>A simulator running in this process.</summary>
public sealed class RunningSimulator(WebApplication app, Uri baseAddress, SimulatedUpstream upstream) : IAsyncDisposable
{
    public Uri BaseAddress { get; } = baseAddress;
    public SimulatedUpstream Upstream { get; } = upstream;
    public SimulatorOptions Options => Upstream.Options;

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
