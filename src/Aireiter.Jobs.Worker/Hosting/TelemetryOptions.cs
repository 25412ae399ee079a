namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>The <c>Telemetry</c> section: where metrics and traces go.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>Serve <c>/metrics</c> in Prometheus text format (on by default).</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>
    /// An OpenTelemetry collector to push metrics and traces to over OTLP (e.g. <c>http://collector:4317</c>); when
    /// unset, the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is used if the environment has it, else nothing is pushed.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>The section as configured, with the environment's standard OTLP variable as the fallback endpoint.</summary>
    public static TelemetryOptions From(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (options.OtlpEndpoint is null && Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } fromEnvironment
            && Uri.TryCreate(fromEnvironment, UriKind.Absolute, out var endpoint))
        {
            options.OtlpEndpoint = endpoint;
        }

        return options;
    }
}
