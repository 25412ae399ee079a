namespace Aireiter.Jobs.Cluster;

/// <summary>
/// The pieces of work a loop has started and not yet seen finish: counted for its concurrency bound,
/// awaited on shutdown, and never left running unobserved.
/// </summary>
public sealed class TaskGroup
{
    private readonly HashSet<Task> _running = [];
    private readonly Lock _gate = new();

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>
    /// Whether a loop bounded at <paramref name="max"/> should claim now. Claims go in groups: one costs about as
    /// much for one row as for dozens, so while work is still running it waits until a quarter of the places are free.
    /// </summary>
    public bool HasRoomForAGroup(int max)
    {
        var running = Count;
        return max - running >= Math.Max(1, max / 4) || (running == 0 && max > 0);
    }

    /// <summary>Runs <paramref name="work"/> on the thread pool; <paramref name="finished"/> is called when it ends.</summary>
    public void Start(Func<Task> work, Action finished)
    {
        lock (_gate)
        {
            var task = Task.Run(work, CancellationToken.None);
            _running.Add(task);
            _ = task.ContinueWith(t =>
            {
                lock (_gate)
                {
                    _running.Remove(t);
                }

                finished();
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Waits for everything started so far; failures were handled inside the work.</summary>
    public Task WhenAllAsync()
    {
        Task[] left;
        lock (_gate)
        {
            left = [.. _running];
        }

        return Task.WhenAll(left);
    }
}
