using System.Security.Cryptography;
using Aireiter.Client;
using Aireiter.Jobs.AspNetCore.Upstream;
using Aireiter.Simulator;
using Serilog.Extensions.Logging;

namespace Aireiter.Jobs.Worker.Upstream;

/// <summary>
/// With no <c>Aireiter:ApiKey</c>, the node starts the simulator in-process and points the client at it,
/// so a new user sees the whole pipeline work without an account. It says so loudly. With a key,
/// the configured base URL is used and the simulator never starts.
/// </summary>
public static class UpstreamStartup
{
    public static async Task<RunningSimulator?> StartSimulatorUnlessKeyedAsync(
        IHostApplicationBuilder builder, Serilog.ILogger serilog, ILogger log, CancellationToken cancellationToken)
    {
        var configured = builder.Configuration.GetSection(AireiterOptions.Section).Get<AireiterOptions>() ?? new AireiterOptions();
        if (!string.IsNullOrWhiteSpace(configured.ApiKey))
        {
            builder.Services.AddSingleton(new UpstreamMode(false, configured.BaseUrl));
            return null;
        }

        var options = builder.Configuration.GetSection(SimulatorOptions.Section).Get<SimulatorOptions>() ?? new SimulatorOptions();
        options.ApiKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var simulator = await SimulatorHost.StartAsync(options, logging: l =>
        {
            l.ClearProviders();
            l.AddProvider(new SerilogLoggerProvider(serilog));
        }, cancellationToken: cancellationToken);

        builder.Configuration[$"{AireiterOptions.Section}:BaseUrl"] = simulator.BaseAddress.ToString();
        builder.Configuration[$"{AireiterOptions.Section}:ApiKey"] = options.ApiKey;
        builder.Services.AddSingleton(new UpstreamMode(true, simulator.BaseAddress));
        builder.Services.AddSingleton(simulator);

        log.LogWarning("Aireiter:ApiKey is not set: using the built-in SIMULATOR at {BaseUrl}. No real images are made " +
                       "and no credits are spent. Set Aireiter:ApiKey (environment: Aireiter__ApiKey) to use the real API.",
            simulator.BaseAddress);
        return simulator;
    }
}
