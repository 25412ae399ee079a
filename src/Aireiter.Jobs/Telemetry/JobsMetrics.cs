using System.Diagnostics;
using System.Diagnostics.Metrics;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Submitting;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Telemetry;

/// <summary>
/// The product's metrics (meter <c>Aireiter.Jobs</c>) and spans (activity source <c>Aireiter.Jobs</c>), named the
/// OpenTelemetry way (dotted, unit apart); Prometheus shows them with underscores and the unit as a suffix, e.g.
/// <c>aireiter_jobs_submits_total</c>. Counting costs nothing that is not read: the instruments are plain counters in
/// memory, and the gauges that need the database (requests by state, in flight, pauses) query it only when a reader
/// collects them (a scrape of <c>/metrics</c> or an OTLP export), at most once a second.
/// </summary>
public sealed class JobsMetrics
{
    public const string Name = "Aireiter.Jobs";

    /// <summary>A span per submit and per poll; the upstream HTTP call and the statements run inside it.</summary>
    public static readonly ActivitySource Activities = new(Name);

    private static readonly TimeSpan GaugeFreshness = TimeSpan.FromSeconds(1);

    private readonly Counter<long> _submits;
    private readonly Counter<long> _polls;
    private readonly Histogram<double> _pollLateness;
    private readonly Counter<double> _credits;
    private readonly Counter<long> _importLines;
    private readonly OverviewQueries _overview;
    private readonly SubmitPauses _pauses;
    private readonly IOptionsMonitor<EngineOptions> _engine;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private Snapshot? _snapshot;

    public JobsMetrics(IMeterFactory meters, OverviewQueries overview, SubmitPauses pauses, IOptionsMonitor<EngineOptions> engine, TimeProvider time)
    {
        _overview = overview;
        _pauses = pauses;
        _engine = engine;
        _time = time;
        var meter = meters.Create(Name);
        _submits = meter.CreateCounter<long>("aireiter.jobs.submits", "{submit}",
            "Submit outcomes: accepted, adopted (the upstream already had it), retry_later, paused, rejected, gave_up.");
        _polls = meter.CreateCounter<long>("aireiter.jobs.polls", "{poll}",
            "Poll outcomes: completed, failed, pending (not finished yet), no_answer, timed_out; late_* after a time-out.");
        _pollLateness = meter.CreateHistogram<double>("aireiter.jobs.poll.lateness", "s", "How long after its due time a poll started.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _credits = meter.CreateCounter<double>("aireiter.jobs.credits.used", "{credit}", "Credits the upstream reported used, by model.");
        _importLines = meter.CreateCounter<long>("aireiter.jobs.import.lines", "{line}",
            "Catalogue lines imported: stored, duplicate (already present), invalid (refused with a reason).");
        meter.CreateObservableGauge("aireiter.jobs.requests", () => Read().ByState, "{request}", "Requests in each state, cluster-wide.");
        meter.CreateObservableGauge("aireiter.jobs.in_flight", () => Read().InFlight, "{request}", "Requests submitting or running, cluster-wide.");
        meter.CreateObservableGauge("aireiter.jobs.in_flight.limit", () => _engine.CurrentValue.Limits.MaxInFlight, "{request}",
            "Engine:Limits:MaxInFlight.");
        meter.CreateObservableGauge("aireiter.jobs.submit.paused", () => Read().Paused, "1",
            "1 while submitting is paused for the cluster, one series per reason (unauthorized, insufficient_credits, operator); 0 with reason none.");
    }

    public void Submitted(string outcome, string model)
    {
        _submits.Add(1, Tag("outcome", outcome), Tag("model", model));
        TagSpan(outcome);
    }

    public void Polled(string outcome, string model)
    {
        _polls.Add(1, Tag("outcome", outcome), Tag("model", model));
        TagSpan(outcome);
    }

    /// <summary>The outcome on the submit's or poll's own span too, so a trace says what became of the request.</summary>
    private static void TagSpan(string outcome)
    {
        if (Activity.Current is { } span && span.Source == Activities)
        {
            span.SetTag("aireiter.outcome", outcome);
        }
    }

    public void PollStarted(TimeSpan lateness) => _pollLateness.Record(Math.Max(0, lateness.TotalSeconds));

    public void CreditsUsed(decimal? credits, string model)
    {
        if (credits is > 0)
        {
            _credits.Add((double)credits.Value, Tag("model", model));
        }
    }

    public void Imported(long stored, long duplicates, long invalid)
    {
        _importLines.Add(stored, Tag("outcome", "stored"));
        _importLines.Add(duplicates, Tag("outcome", "duplicate"));
        _importLines.Add(invalid, Tag("outcome", "invalid"));
    }

    /// <summary>Starts the span of one submit or poll (null when nothing listens), tagged with what identifies the request.</summary>
    public static Activity? Start(string operation, string outTaskId, string model, long? batchId)
    {
        var activity = Activities.StartActivity(operation, ActivityKind.Internal);
        activity?.SetTag("aireiter.out_task_id", outTaskId);
        activity?.SetTag("aireiter.model", model);
        if (batchId is { } batch)
        {
            activity?.SetTag("aireiter.batch", batch);
        }

        return activity;
    }

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    /// <summary>
    /// The database-backed gauges, read at most once a second, by the overview's and the pauses' own reads. The callback
    /// of a gauge cannot wait asynchronously, so this waits for them, two seconds at most; with the database away it
    /// reports nothing.
    /// </summary>
    private Snapshot Read()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_snapshot is { } fresh && now - fresh.At < GaugeFreshness)
            {
                return fresh;
            }

            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var counts = _overview.CountsAsync(timeout.Token).GetAwaiter().GetResult().ByState;
                var pauses = _pauses.ListAsync(timeout.Token).GetAwaiter().GetResult();
                _snapshot = new Snapshot(now,
                    [.. Enum.GetValues<RequestState>().Select(state => state.ToStorage())
                        .Select(state => new Measurement<long>(counts.GetValueOrDefault(state), Tag("state", state)))],
                    [new Measurement<long>(counts.GetValueOrDefault("submitting") + counts.GetValueOrDefault("running"))],
                    pauses.Count == 0
                        ? [new Measurement<int>(0, Tag("reason", "none"))]
                        : [.. pauses.Select(p => new Measurement<int>(1, Tag("reason", p.Reason)))]);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException or OperationCanceledException)
            {
                _snapshot = new Snapshot(now, [], [], []);
            }

            return _snapshot;
        }
    }

    private sealed record Snapshot(DateTimeOffset At, Measurement<long>[] ByState, Measurement<long>[] InFlight, Measurement<int>[] Paused);
}
