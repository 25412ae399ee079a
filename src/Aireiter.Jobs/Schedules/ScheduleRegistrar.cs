using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quartz;

namespace Aireiter.Jobs.Schedules;

/// <summary>
/// Brings the clustered store's schedule triggers in line with configuration at start-up. An unchanged
/// schedule keeps its stored trigger, so a run that fell due while every node was down is still known and
/// fires (or is skipped) by its misfire window; a changed one is rescheduled; a removed one is deleted.
/// Housekeeping jobs that no longer run in Quartz (the sweeps moved to every node) are deleted from the store.
/// </summary>
public sealed partial class ScheduleRegistrar(ISchedulerFactory schedulers, IOptionsMonitor<SchedulesOptions> schedules,
    ILogger<ScheduleRegistrar> logger) : IHostedService
{
    private static readonly JobKey[] RetiredJobs =
        [new("lease-recovery", "housekeeping"), new("reconciliation", "housekeeping"), new("batch-completion", "housekeeping")];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        foreach (var retired in RetiredJobs)
        {
            await scheduler.DeleteJob(retired, cancellationToken);
        }

        var configured = schedules.CurrentValue.Items.Where(s => s.Enabled).ToList();
        var existing = await scheduler.GetTriggerKeys(GroupMatcher<TriggerKey>.GroupEquals(ScheduledImportJob.Group), cancellationToken);

        foreach (var key in existing.Where(k => configured.All(s => s.Name != k.Name)))
        {
            await scheduler.UnscheduleJob(key, cancellationToken);
            await scheduler.DeleteJob(new JobKey(key.Name, ScheduledImportJob.Group), cancellationToken);
            LogRemoved(key.Name);
        }

        foreach (var schedule in configured)
        {
            var key = new TriggerKey(schedule.Name, ScheduledImportJob.Group);
            var zone = TimeZoneInfo.FindSystemTimeZoneById(schedule.TimeZone);
            if (await scheduler.GetTrigger(key, cancellationToken) is ICronTrigger current
                && current.CronExpressionString == schedule.Cron
                && current.TimeZone.Id == zone.Id
                && current.MisfireThreshold == schedule.MisfireWindow)
            {
                LogKept(schedule.Name, await NextRun(scheduler, key, cancellationToken));
                continue;
            }

            var job = JobBuilder.Create<ScheduledImportJob>()
                .WithIdentity(schedule.Name, ScheduledImportJob.Group)
                .UsingJobData(ScheduledImportJob.ScheduleKey, schedule.Name)
                .StoreDurably()
                .Build();
            // Late by less than the window: fire once when a node is back. Later: do nothing, wait for the next time.
            var trigger = TriggerBuilder.Create()
                .WithIdentity(key)
                .ForJob(job)
                .WithCronSchedule(schedule.Cron, cron => cron.InTimeZone(zone).WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing))
                .WithMisfireThreshold(schedule.MisfireWindow)
                .Build();
            await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
            LogScheduled(schedule.Name, schedule.Cron, schedule.TimeZone, await NextRun(scheduler, key, cancellationToken));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static async Task<DateTimeOffset?> NextRun(IScheduler scheduler, TriggerKey key, CancellationToken cancellationToken)
    {
        var upcoming = await scheduler.GetUpcomingFireTimes(key, 1, cancellationToken);
        return upcoming is { Count: > 0 } ? upcoming[0] : null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule}: {Cron} ({TimeZone}), next run {Next:u}")]
    private partial void LogScheduled(string schedule, string cron, string timeZone, DateTimeOffset? next);

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} unchanged, next run {Next:u}")]
    private partial void LogKept(string schedule, DateTimeOffset? next);

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} is no longer configured: removed")]
    private partial void LogRemoved(string schedule);
}
