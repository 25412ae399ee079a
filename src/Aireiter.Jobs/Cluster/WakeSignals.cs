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

    /// <summary>Waits for a wake-up or the timeout, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        try
        {
            await _signal.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The timeout: look anyway.
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
