using Microsoft.Extensions.Configuration;
using Aireiter.Client.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Aireiter.Client;

public static class Extensions
{
    /// <summary>Registers <see cref="AireiterClient"/> with validated <see cref="AireiterOptions"/> from the <c>Aireiter</c> section of <paramref name="configuration"/>.</summary>
    public static IServiceCollection AddAireiterClient(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IValidateOptions<AireiterOptions>, AireiterOptionsValidator>();
        services.AddOptions<AireiterOptions>().Bind(configuration.GetSection(AireiterOptions.Section)).ValidateOnStart();
        services.AddSingleton<AireiterResilience>();
        services.AddMetrics();
        services.TryAddSingleton<UpstreamMetrics>();
        services.AddHttpClient<AireiterClient>(http =>
            {
                // Each attempt has its own time-out in the pipeline; this only stops a runaway call.
                http.Timeout = TimeSpan.FromMinutes(15);
            })
            .RedactLoggedHeaders(["Authorization"]);
        return services;
    }
}
