using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Cluster;

/// <summary>
/// Renews the leases of every row this node works on, three times per lease, so a slow upstream call is
/// never taken over by another node; and stops the work on any row whose lease was lost meanwhile.
/// </summary>
public sealed partial class LeaseKeeper(WorkInFlight work, RequestLifecycle lifecycle, IOptionsMonitor<EngineOptions> engine,
    TimeProvider time, ILogger<LeaseKeeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var lease = engine.CurrentValue.LeaseDuration;
            await Task.Delay(lease / 3, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var ids = work.Ids;
            if (ids.Count == 0 || stoppingToken.IsCancellationRequested)
            {
                continue;
            }

            try
            {
                var expiresAt = time.GetUtcNow() + lease;
                var held = await lifecycle.RenewAsync(ids, expiresAt, stoppingToken);
                work.Renewed(held, expiresAt);
                var lost = ids.Where(id => !held.Contains(id)).ToList();
                if (lost.Count > 0)
                {
                    // Finished rows show up here too (their lease is gone), some finishing right now: Lost allows for both.
                    work.Lost(lost);
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                LogRenewFailed(ids.Count, ex.Message);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            LogHandedBack(await lifecycle.HandedBackAsync(time.GetUtcNow(), CancellationToken.None));
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            LogHandBackFailed(ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Handed back {Count} requests on stopping")]
    private partial void LogHandedBack(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not hand back requests on stopping ({Reason}); their leases will run out")]
    private partial void LogHandBackFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew {Count} leases: {Reason}")]
    private partial void LogRenewFailed(int count, string reason);
}
