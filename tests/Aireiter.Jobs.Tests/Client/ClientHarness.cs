using Aireiter.Client;
using Aireiter.Jobs.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aireiter.Jobs.Tests.Client;

/// <summary>An <see cref="AireiterClient"/> built the way the host builds it, from configuration keys.</summary>
public sealed class ClientHarness : IDisposable
{
    private readonly ServiceProvider _services;

    public ClientHarness(Uri baseUrl, string apiKey, params (string Key, string Value)[] settings)
    {
        var values = new Dictionary<string, string?>
        {
            ["Aireiter:BaseUrl"] = baseUrl.ToString(),
            ["Aireiter:ApiKey"] = apiKey,
            ["Aireiter:QueryRetryBaseDelay"] = "00:00:00.010",
            ["Aireiter:AttemptTimeout"] = "00:00:05",
        };
        foreach (var (key, value) in settings)
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs));
        services.AddAireiterClient(configuration);
        _services = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        Client = _services.GetRequiredService<AireiterClient>();
    }

    public CapturedLogs Logs { get; } = new();

    public AireiterClient Client { get; }

    public void Dispose() => _services.Dispose();
}
