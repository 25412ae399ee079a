namespace Aireiter.Jobs.Submitting;

/// <summary>
/// The last step before a submit leaves this process: no two leave closer together than the cluster's spacing.
/// The database hands out send slots across the cluster; this keeps one node's sends apart even when its tasks
/// were held up together (a pause, a busy machine) and would otherwise all go at once when released.
/// It can only make sends sparser than the slots, never denser.
/// </summary>
public sealed class SendSpacing(TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private DateTimeOffset _last = DateTimeOffset.MinValue;

    public async Task WaitTurnAsync(TimeSpan spacing, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var wait = _last + spacing - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, cancellationToken);
            }

            _last = time.GetUtcNow();
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();
}
