using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Polling;

/// <summary>
/// Claims running tasks whose poll is due and asks the upstream about them, on every node at once.
/// A claim leases the row, so a node that dies mid-poll leaves it due again when the lease runs out;
/// only the lease owner may record the answer. Between rounds it
/// sleeps until the next poll is due (or a callback wakes it), so polls are punctual.
/// </summary>
public sealed partial class Poller(
    RequestLifecycle lifecycle,
    PollProcessor processor,
    WakeSignals signals,
    WorkInFlight work,
    PollLateness lateness,
    IOptionsMonitor<EngineOptions> engine,
    TimeProvider time,
    ILogger<Poller> logger) : BackgroundService
{
    private readonly TaskGroup _running = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Loop(stoppingToken);
        }
        finally
        {
            await _running.WhenAllAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            try
            {
                await lifecycle.HandedBackAsync(time.GetUtcNow(), CancellationToken.None);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                LogPollFailed("(release on stop)", ex.Message);
            }
        }
    }

    private async Task Loop(CancellationToken stoppingToken)
    {
        var failures = 0;
        var quiet = false; // the last round claimed nothing, and nothing has woken this loop since
        while (!stoppingToken.IsCancellationRequested)
        {
            var options = engine.CurrentValue;
            var wait = options.IdleTick;
            var free = options.MaxConcurrentPolls - _running.Count;
            if (_running.HasRoomForAGroup(options.MaxConcurrentPolls))
            {
                try
                {
                    var now = time.GetUtcNow();

                    // A quiet node asks when the next poll is due (one read) before it runs a claim.
                    var next = quiet ? await lifecycle.NextDueAsync(RequestState.Running, now, stoppingToken) : now;
                    if (next is null || next > now)
                    {
                        wait = next is null ? options.IdleTickMax : Min(next.Value - now, options.IdleTickMax);
                    }
                    else
                    {
                        var rows = await lifecycle.ClaimForPollAsync(RequestState.Running, free, now, now + options.LeaseDuration, stoppingToken);
                        failures = 0;
                        foreach (var row in rows)
                        {
                            _running.Start(() => Work(row, stoppingToken), signals.Poll.Raise);
                        }

                        if (rows.Count == free)
                        {
                            wait = TimeSpan.Zero;
                        }
                        else if (await lifecycle.NextDueAsync(RequestState.Running, time.GetUtcNow(), stoppingToken) is { } due)
                        {
                            wait = Min(due - time.GetUtcNow(), wait);
                        }
                        else if (_running.Count == 0)
                        {
                            // Nothing running at all: a submit wakes this loop when there is.
                            wait = options.IdleTickMax;
                        }

                        quiet = rows.Count == 0 && _running.Count == 0;
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
                {
                    failures++;
                    wait = TimeSpan.FromMilliseconds(Math.Min(10_000, 250 * Math.Pow(2, Math.Min(failures, 6))));
                    LogClaimFailed(ex.Message, wait);
                }
            }

            if (await signals.Poll.WaitAsync(wait, time, stoppingToken).ConfigureAwait(false))
            {
                quiet = false;
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private async Task Work(ClaimedRequest row, CancellationToken stoppingToken)
    {
        using var lease = work.Begin(row.Id, stoppingToken);
        lateness.Record(time.GetUtcNow() - row.DueAt);
        try
        {
            await processor.PollAsync(row, lease.Token);
        }
        catch (OperationCanceledException) when (lease.Token.IsCancellationRequested)
        {
            // Stopping or lease lost: the row is due again when its lease runs out (or at once, on release).
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            LogPollFailed(row.OutTaskId, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not claim tasks to poll ({Reason}); trying again in {Delay}")]
    private partial void LogClaimFailed(string reason, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the poll of {OutTaskId} ({Reason}); it will be polled again")]
    private partial void LogPollFailed(string outTaskId, string reason);
}
