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

    /// <summary>
    /// How to talk to the collector: <c>Grpc</c> (port 4317, the default) or <c>HttpProtobuf</c> (port 4318; the
    /// signal's path, <c>/v1/traces</c> or <c>/v1/metrics</c>, is added to the endpoint). When unset, the standard
    /// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> decides.
    /// </summary>
    public OpenTelemetry.Exporter.OtlpExportProtocol? OtlpProtocol { get; set; }

    /// <summary>Whether the endpoint is this section's (applied as given) rather than the environment's (left to the exporter).</summary>
    internal bool EndpointFromSettings { get; private set; }

    /// <summary>
    /// The section as configured, with the environment's standard OTLP variable as the fallback endpoint. An endpoint
    /// that is not an absolute http(s) address stops start-up with the name of the setting that gave it.
    /// </summary>
    public static TelemetryOptions From(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var source = $"{Section}:{nameof(OtlpEndpoint)}";
        options.EndpointFromSettings = options.OtlpEndpoint is not null;
        if (options.OtlpEndpoint is null && Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } fromEnvironment)
        {
            source = "OTEL_EXPORTER_OTLP_ENDPOINT";
            options.OtlpEndpoint = Uri.TryCreate(fromEnvironment, UriKind.RelativeOrAbsolute, out var endpoint) ? endpoint : new Uri("relative", UriKind.Relative);
        }

        if (options.OtlpEndpoint is { } otlp && !(otlp.IsAbsoluteUri && otlp.Scheme is "http" or "https"))
        {
            throw new StartupException($"{source} must be an absolute http or https address such as http://collector:4317, not '{otlp.OriginalString}'.");
        }

        return options;
    }
}
