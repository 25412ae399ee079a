namespace Aireiter.Jobs.Cluster;

/// <summary>A wake-up that can be raised many times and is taken once: "there may be work, look now".</summary>
public sealed class WakeSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Raise()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already raised; one wake-up is as good as many.
        }
    }

    public void Dispose() => _signal.Dispose();

    /// <summary>Waits for a wake-up or the timeout, whichever comes first. True when woken; false on the timeout or when stopping.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return false;
        }

        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        try
        {
            await _signal.WaitAsync(linked.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            // The timeout (look anyway), or stopping (the loop ends).
            return false;
        }
    }
}

/// <summary>The engine's wake-ups: new work to submit, and tasks to poll now (a callback arrived).</summary>
public sealed class WakeSignals : IDisposable
{
    public const string SubmitChannel = "aireiter_jobs_submit";
    public const string PollChannel = "aireiter_jobs_poll";

    public WakeSignal Submit { get; } = new();
    public WakeSignal Poll { get; } = new();

    public void Dispose()
    {
        Submit.Dispose();
        Poll.Dispose();
    }
}
