using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aireiter.Jobs.Engine;

/// <summary>
/// The loop the submitter and the poller share, on every node at once: claim due rows in a set, work each one under
/// its lease (at most <see cref="MaxConcurrent"/> at a time), then sleep until the next row is due or a wake-up
/// comes. A quiet node first asks when anything is due (one read) instead of running a claim every tick: that is most
/// of what an idle node costs the database. A failed claim (the database is away) is tried again with a growing pause;
/// the loop never dies of it. On stopping, the work in hand ends (its calls are cancelled) and the rows go back: by
/// the lease keeper, once every loop is done (<see cref="LeaseKeeper"/>).
/// </summary>
public abstract partial class ClaimLoop(WakeSignal signal, TimeProvider time, ILogger logger) : BackgroundService
{
    private readonly TaskGroup _running = new();

    protected TimeProvider Time { get; } = time;

    /// <summary>What the loop claims, for its log lines ("requests to submit", "tasks to poll").</summary>
    protected abstract string Claims { get; }

    /// <summary>How many rows may be worked at once (read each round: options may change).</summary>
    protected abstract int MaxConcurrent { get; }

    /// <summary>How many rows are being worked now.</summary>
    protected int Running => _running.Count;

    /// <summary>When the next row is due (a quiet node's one read), or null when none is.</summary>
    protected abstract Task<DateTimeOffset?> NextDueAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>How long to sleep when nothing is due yet (<paramref name="nextDue"/> is later than now, or null).</summary>
    protected abstract TimeSpan WaitForNextDue(DateTimeOffset? nextDue, DateTimeOffset now);

    /// <summary>How long to sleep when there is no room for a group of rows (work is still running).</summary>
    protected abstract TimeSpan WaitWhileBusy { get; }

    /// <summary>One claim round: up to <paramref name="free"/> rows, and how to work each.</summary>
    protected abstract Task<ClaimRound> ClaimAsync(int free, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>How long to sleep after a round that took fewer rows than it could (its rows already started).</summary>
    protected abstract Task<TimeSpan> WaitAfterAsync(ClaimRound round, CancellationToken cancellationToken);

    /// <summary>Called when a wake-up (a notification, finished work) ends a sleep early.</summary>
    protected virtual void Woken()
    {
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Loop(stoppingToken);
        }
        finally
        {
            // Shutdown puts the work back: let the in-flight calls end (they are cancelled); the lease keeper then hands
            // every row this node holds back at once.
            await _running.WhenAllAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task Loop(CancellationToken stoppingToken)
    {
        var failures = 0;
        var quiet = false; // the last round claimed nothing, and nothing has woken this loop since
        while (!stoppingToken.IsCancellationRequested)
        {
            var max = MaxConcurrent;
            var wait = WaitWhileBusy;
            if (_running.HasRoomForAGroup(max))
            {
                try
                {
                    var now = Time.GetUtcNow();
                    var next = quiet ? await NextDueAsync(now, stoppingToken) : now;
                    if (next is null || next > now)
                    {
                        wait = WaitForNextDue(next, now);
                    }
                    else
                    {
                        var free = max - _running.Count;
                        var round = await ClaimAsync(free, now, stoppingToken);
                        failures = 0;
                        foreach (var row in round.Rows)
                        {
                            _running.Start(() => round.Work(row, stoppingToken), signal.Raise);
                        }

                        // A full round: there may be more due right now.
                        wait = round.Rows.Count == free ? TimeSpan.Zero : await WaitAfterAsync(round, stoppingToken);
                        quiet = round.Rows.Count == 0 && !round.Held && _running.Count == 0;
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
                {
                    failures++;
                    wait = TimeSpan.FromMilliseconds(Math.Min(10_000, 250 * Math.Pow(2, Math.Min(failures, 6))));
                    LogClaimFailed(Claims, ex.Message, wait);
                }
            }

            if (await signal.WaitAsync(wait, Time, stoppingToken).ConfigureAwait(false))
            {
                quiet = false;
                Woken();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not claim {Claims} ({Reason}); trying again in {Delay}")]
    private partial void LogClaimFailed(string claims, string reason, TimeSpan delay);
}

/// <summary>
/// What one claim round took: its rows and the work to run on each. <see cref="Held"/>: something holds the loop back
/// (a pause, a limit), so the loop is not quiet even with no rows.
/// </summary>
public sealed record ClaimRound(IReadOnlyList<ClaimedRequest> Rows, Func<ClaimedRequest, CancellationToken, Task> Work, bool Held = false)
{
    /// <summary>When the round was held back: the moment to look again, if the hold says.</summary>
    public DateTimeOffset? RetryAt { get; init; }
}
