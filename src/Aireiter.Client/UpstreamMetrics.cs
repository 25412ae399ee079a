using System.Diagnostics.Metrics;
using Aireiter.Client.Protocol;

namespace Aireiter.Client;

/// <summary>
/// How long upstream calls take, by endpoint (<c>submit</c>, <c>query</c>) and outcome (<c>accepted</c>,
/// <c>not_found</c>, <c>transient</c>, …), on the product's meter <c>Aireiter.Jobs</c>. A call is everything one
/// <see cref="AireiterClient"/> method did: a query's retries are inside it. Each HTTP attempt also has its own
/// <c>http.client.request.duration</c> from .NET itself.
/// </summary>
public sealed class UpstreamMetrics
{
    private readonly Histogram<double> _duration;

    public UpstreamMetrics(IMeterFactory meters)
    {
        _duration = meters.Create("Aireiter.Jobs").CreateHistogram<double>("aireiter.upstream.duration", "s",
            "Duration of calls to the Aireiter API, by endpoint and outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
    }

    internal void Record(string endpoint, OutcomeKind outcome, TimeSpan elapsed) =>
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("endpoint", endpoint),
            new KeyValuePair<string, object?>("outcome", Outcome(outcome)));

    private static string Outcome(OutcomeKind kind) => kind switch
    {
        OutcomeKind.NotFound => "not_found",
        OutcomeKind.RateLimited => "rate_limited",
        OutcomeKind.InvalidRequest => "invalid_request",
        OutcomeKind.ContentRejected => "content_rejected",
        OutcomeKind.InsufficientCredits => "insufficient_credits",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
