using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Telemetry;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>
/// Metrics and traces the way operators read them: the product's meter and spans (<see cref="JobsMetrics"/>), ASP.NET
/// Core, HttpClient, the .NET runtime and Npgsql, scraped at <c>/metrics</c> in Prometheus text format and, when an
/// OTLP endpoint is given (<see cref="TelemetryOptions"/>), pushed
/// there too. Traces are recorded only when they go somewhere (OTLP): with no collector a span costs nothing.
/// </summary>
public static class TelemetrySetup
{
    public static IHostApplicationBuilder AddJobsTelemetry(this IHostApplicationBuilder builder)
    {
        var settings = TelemetryOptions.From(builder.Configuration);
        var prometheus = settings.Prometheus;
        var otlp = settings.OtlpEndpoint;
        if (!prometheus && otlp is null)
        {
            return builder;
        }

        var node = ClusterOptions.NodeIdFrom(builder.Configuration);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("aireiter-jobs", serviceInstanceId: node))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(JobsMetrics.Name, "Npgsql")
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation();
                if (prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (otlp is not null)
                {
                    metrics.AddOtlpExporter(o => Point(o, settings, "metrics"));
                }
            });
        if (otlp is not null)
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(JobsMetrics.Name)
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsQuiet(http.Request.Path))
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter(o => Point(o, settings, "traces")));
        }

        return builder;
    }

    /// <summary>
    /// The exporter's protocol and address. An endpoint from <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is left to the exporter,
    /// which reads it (and its protocol) the standard way; one from the settings is set here, with the signal's path
    /// for OTLP over HTTP, as the specification does for the base endpoint.
    /// </summary>
    private static void Point(OpenTelemetry.Exporter.OtlpExporterOptions exporter, TelemetryOptions settings, string signal)
    {
        if (settings.OtlpProtocol is { } protocol)
        {
            exporter.Protocol = protocol;
        }

        if (settings is { EndpointFromSettings: true, OtlpEndpoint: { } endpoint })
        {
            exporter.Endpoint = exporter.Protocol == OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf
                ? new Uri($"{endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/')}/v1/{signal}")
                : endpoint;
        }
    }

    /// <summary><c>/metrics</c> in Prometheus text format, behind the same access rules as the API.</summary>
    public static WebApplication MapJobsMetrics(this WebApplication app)
    {
        if (TelemetryOptions.From(app.Configuration).Prometheus)
        {
            app.MapPrometheusScrapingEndpoint("/metrics");
        }

        return app;
    }

    /// <summary>Requests polled all the time (health, scrapes, the dashboard's live figures): no span, and a quiet log line.</summary>
    internal static bool IsQuiet(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics") || path.StartsWithSegments("/hangfire/stats");
}
