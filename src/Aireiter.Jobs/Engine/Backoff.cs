namespace Aireiter.Jobs.Engine;

/// <summary>Exponential back-off with jitter, never shorter than what the upstream asked for.</summary>
public static class Backoff
{
    public static TimeSpan For(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, TimeSpan? retryAfter, Random random)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ceiling = Math.Min(maxDelay.Ticks, baseDelay.Ticks * (1L << Math.Min(exponent, 20)));
        // "Equal jitter": half fixed, half random, so retries spread out but never come back at once.
        var delay = TimeSpan.FromTicks(ceiling / 2 + (long)(random.NextDouble() * (ceiling / 2)));
        return retryAfter is { } wait && wait > delay ? wait : delay;
    }
}
