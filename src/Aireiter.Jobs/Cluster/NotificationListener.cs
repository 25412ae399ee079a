using Microsoft.Extensions.DependencyInjection;
using Aireiter.Jobs.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aireiter.Jobs.Cluster;

/// <summary>
/// Holds one connection that LISTENs for the engine's channels and raises the matching wake-up, so new
/// work is picked up at once on every node. When the connection is lost it reconnects with back-off; the
/// engine's idle tick covers the gap, so a lost notification delays work, never loses it.
/// </summary>
public sealed partial class NotificationListener([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource, WakeSignals signals, TimeProvider time,
    ILogger<NotificationListener> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == WakeSignals.SubmitChannel)
                    {
                        signals.Submit.Raise();
                    }
                    else if (e.Channel == WakeSignals.PollChannel)
                    {
                        signals.Poll.Raise();
                    }
                };
                await using (var listen = new NpgsqlCommand($"listen {WakeSignals.SubmitChannel}; listen {WakeSignals.PollChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                delay = TimeSpan.FromMilliseconds(200);
                signals.Submit.Raise(); // anything enqueued while we were not listening
                signals.Poll.Raise();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
            {
                LogLost(ex.Message, delay);
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the notification connection ({Reason}); reconnecting in {Delay}")]
    private partial void LogLost(string reason, TimeSpan delay);
}
