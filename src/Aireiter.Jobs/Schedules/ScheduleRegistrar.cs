using Microsoft.Extensions.Hosting;

namespace Aireiter.Jobs.Schedules;

/// <summary>
/// Registers the schedules at start-up. It is added before the Hangfire server, so a missed run outside its window
/// is skipped before this node's scheduler could fire it.
/// </summary>
public sealed class ScheduleRegistrar(RecurringSchedules schedules) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => schedules.RegisterAllAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
