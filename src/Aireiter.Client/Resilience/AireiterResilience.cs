using System.Threading.RateLimiting;
using Aireiter.Client.Protocol;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Aireiter.Client.Resilience;

/// <summary>
/// The Polly pipelines around upstream calls, built once. Both share one circuit breaker, so a dead
/// upstream stops being called for submits and queries alike. Only queries are retried: a submit is a
/// paid POST, and its ambiguity is resolved by the engine querying by out_task_id, never by re-sending;
/// a poll is not retried either, because the next one is only an interval away.
/// </summary>
public sealed class AireiterResilience : IDisposable
{
    public AireiterResilience(IOptions<AireiterOptions> options, TimeProvider time)
    {
        var settings = options.Value;

        var breaker = new ResiliencePipelineBuilder<UpstreamReply> { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<UpstreamReply>
            {
                FailureRatio = settings.CircuitBreaker.FailureRatio,
                MinimumThroughput = settings.CircuitBreaker.MinimumThroughput,
                SamplingDuration = settings.CircuitBreaker.SamplingDuration,
                BreakDuration = settings.CircuitBreaker.BreakDuration,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: TimeoutRejectedException or HttpRequestException } => true,
                    { Result.Kind: OutcomeKind.Transient or OutcomeKind.Ambiguous } => true,
                    _ => false,
                }),
            })
            .Build();

        var timeout = new ResiliencePipelineBuilder<UpstreamReply> { TimeProvider = time }
            .AddTimeout(settings.AttemptTimeout)
            .Build();

        Submit = new ResiliencePipelineBuilder<UpstreamReply> { TimeProvider = time }
            .AddPipeline(breaker)
            .AddPipeline(timeout)
            .Build();

        Poll = new ResiliencePipelineBuilder<UpstreamReply> { TimeProvider = time }
            .AddPipeline(breaker)
            .AddPipeline(timeout)
            .Build();

        Query = new ResiliencePipelineBuilder<UpstreamReply> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<UpstreamReply>
            {
                MaxRetryAttempts = Math.Max(1, settings.QueryRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.QueryRetryBaseDelay,
                ShouldHandle = args => ValueTask.FromResult(settings.QueryRetries > 0 && args.Outcome switch
                {
                    { Exception: TimeoutRejectedException } => true,
                    { Result.Kind: OutcomeKind.Transient or OutcomeKind.RateLimited } => true,
                    _ => false,
                }),
                // A Retry-After the upstream gave wins over our own back-off, within reason.
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result?.RetryAfter is { } wait ? (TimeSpan?)(wait < settings.MaxRetryAfter ? wait : settings.MaxRetryAfter) : null),
            })
            .AddPipeline(breaker)
            .AddPipeline(timeout)
            .Build();

        SubmitLimiter = new TokenBucketRateLimiter(TokenBucket(settings.SubmitsPerSecond));
    }

    public ResiliencePipeline<UpstreamReply> Submit { get; }

    public ResiliencePipeline<UpstreamReply> Query { get; }

    /// <summary>A query that is never retried inside: polls keep the upstream's interval between any two queries.</summary>
    public ResiliencePipeline<UpstreamReply> Poll { get; }

    /// <summary>Paces submits from this process; the cluster-wide limit is the engine's, in the database.</summary>
    public RateLimiter SubmitLimiter { get; }

    public void Dispose() => SubmitLimiter.Dispose();

    internal static TokenBucketRateLimiterOptions TokenBucket(double perSecond)
    {
        // Whole tokens per period, with the period stretched so the average rate is exact. A period of a tenth of a
        // second at most: a bucket refilled once a second let a whole second's submits leave in one burst.
        var tokens = Math.Max(1, (int)Math.Ceiling(perSecond / 10));
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = tokens,
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = TimeSpan.FromSeconds(tokens / perSecond),
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        };
    }
}
