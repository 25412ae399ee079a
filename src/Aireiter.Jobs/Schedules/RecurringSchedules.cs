using Aireiter.Jobs.BackgroundJobs;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Housekeeping;
using Hangfire;
using Hangfire.Common;
using Hangfire.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Schedules;

/// <summary>A configured schedule as the cluster runs it.</summary>
public sealed record ScheduleInfo(string Name, string Cron, string TimeZone, string Inbox, string Pattern, DateTimeOffset? NextRun,
    DateTimeOffset? LastRun, bool Paused);

/// <summary>
/// The schedules as Hangfire recurring jobs (<c>schedule:{name}</c>), plus what Hangfire lacks: pause and resume that
/// survive restarts, and a misfire window. A paused schedule stays on Hangfire's Recurring Jobs page (its history,
/// "Trigger now") with a cron that never fires. A run missed while every node was down is still due in Hangfire's
/// store when the first node comes back: within the window Hangfire fires it once; older, it is skipped here before
/// this node's Hangfire server starts (only when no other node's server is alive: then nothing was missed).
/// </summary>
public sealed partial class RecurringSchedules(IRecurringJobManager recurring, JobStorage storage, SchedulePauses pauses,
    IOptionsMonitor<SchedulesOptions> schedules, IOptions<ClusterOptions> cluster, IOptions<HangfireOptions> hangfire, TimeProvider time,
    ILogger<RecurringSchedules> logger)
{
    private const string Prefix = "schedule:";

    /// <summary>Brings Hangfire's recurring jobs in line with configuration and the pause records. Safe on several nodes at once.</summary>
    public async Task RegisterAllAsync(CancellationToken cancellationToken)
    {
        var configured = Configured();
        var paused = await pauses.PausedAsync(cancellationToken);
        using (var connection = storage.GetConnection())
        {
            foreach (var retired in connection.GetAllItemsFromSet("recurring-jobs").Where(id => id.StartsWith(Prefix, StringComparison.Ordinal)
                         && configured.All(s => ScheduledImportJob.RecurringJobId(s.Name) != id)))
            {
                recurring.RemoveIfExists(retired);
                LogRemoved(retired);
            }
        }

        // A run is only "missed while every node was down" when no other node's Hangfire server is alive: with one up,
        // a run just due is that node's to fire, however short the window.
        var othersUp = OtherServersAlive();
        foreach (var schedule in configured)
        {
            Register(schedule, paused.Contains(schedule.Name),
                missedBefore: othersUp ? DateTimeOffset.MinValue : time.GetUtcNow() - schedule.MisfireWindow);
        }

        recurring.AddOrUpdate(RetentionJob.RecurringJobId, Job.FromExpression<RetentionJob>(j => j.RunAsync(CancellationToken.None)),
            Cron.Hourly(), new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc });
    }

    public async Task<IReadOnlyList<ScheduleInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var configured = Configured();
        var paused = await pauses.PausedAsync(cancellationToken);
        using var connection = storage.GetConnection();
        var stored = connection.GetRecurringJobs(configured.Select(s => ScheduledImportJob.RecurringJobId(s.Name)))
            .ToDictionary(j => j.Id, StringComparer.Ordinal);
        return configured.Select(s =>
        {
            var job = stored.GetValueOrDefault(ScheduledImportJob.RecurringJobId(s.Name));
            var isPaused = paused.Contains(s.Name);
            return new ScheduleInfo(s.Name, s.Cron, s.TimeZone, s.Inbox, s.Pattern, isPaused ? null : Utc(job?.NextExecution),
                Utc(job?.LastExecution), isPaused);
        }).ToList();
    }

    /// <summary>Runs a schedule now, on whichever node's Hangfire worker takes it; false when no such schedule is configured.</summary>
    public bool TriggerNow(string name)
    {
        if (Find(name) is null)
        {
            return false;
        }

        recurring.Trigger(ScheduledImportJob.RecurringJobId(name));
        return true;
    }

    public async Task<bool> PauseAsync(string name, string by, CancellationToken cancellationToken)
    {
        if (Find(name) is not { } schedule)
        {
            return false;
        }

        await pauses.PauseAsync(name, by, cancellationToken);
        Register(schedule, paused: true, missedBefore: time.GetUtcNow());
        LogPaused(name, by);
        return true;
    }

    /// <summary>Resumes a schedule from its next time: runs it missed while paused are not made up.</summary>
    public async Task<bool> ResumeAsync(string name, CancellationToken cancellationToken)
    {
        if (Find(name) is not { } schedule)
        {
            return false;
        }

        await pauses.ResumeAsync(name, cancellationToken);
        Register(schedule, paused: false, missedBefore: time.GetUtcNow());
        LogResumed(name);
        return true;
    }

    private void Register(ScheduleOptions schedule, bool paused, DateTimeOffset missedBefore)
    {
        var id = ScheduledImportJob.RecurringJobId(schedule.Name);
        var job = Job.FromExpression<ScheduledImportJob>(j => j.RunAsync(schedule.Name, null, CancellationToken.None));
        var options = new RecurringJobOptions { TimeZone = TimeZoneInfo.FindSystemTimeZoneById(schedule.TimeZone) };
        recurring.AddOrUpdate(id, job, paused ? Cron.Never() : schedule.Cron, options);
        if (paused)
        {
            LogRegistered(schedule.Name, "paused", schedule.TimeZone, null);
            return;
        }

        using var connection = storage.GetConnection();
        var next = Utc(connection.GetRecurringJobs([id]).FirstOrDefault()?.NextExecution);
        if (next < missedBefore)
        {
            // Due longer ago than the window allows: start again from now, so the missed run is skipped, not fired late.
            recurring.RemoveIfExists(id);
            recurring.AddOrUpdate(id, job, schedule.Cron, options);
            next = Utc(connection.GetRecurringJobs([id]).FirstOrDefault()?.NextExecution);
            LogSkipped(schedule.Name, missedBefore);
        }

        LogRegistered(schedule.Name, schedule.Cron, schedule.TimeZone, next);
    }

    private bool OtherServersAlive()
    {
        var node = cluster.Value.NodeId + ":";
        var recent = time.GetUtcNow().UtcDateTime - hangfire.Value.ServerTimeout;
        return storage.GetMonitoringApi().Servers().Any(s => !s.Name.StartsWith(node, StringComparison.Ordinal) && s.Heartbeat > recent);
    }

    private List<ScheduleOptions> Configured() => schedules.CurrentValue.Items.Where(s => s.Enabled).ToList();

    private ScheduleOptions? Find(string name) => schedules.CurrentValue.Find(name) is { Enabled: true } s ? s : null;

    private static DateTimeOffset? Utc(DateTime? value) =>
        value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule}: {Cron} ({TimeZone}), next run {Next:u}")]
    private partial void LogRegistered(string schedule, string cron, string timeZone, DateTimeOffset? next);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {Schedule} missed a run while no node was up, before {Before:u} (outside its misfire window): skipped")]
    private partial void LogSkipped(string schedule, DateTimeOffset before);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recurring job {RecurringJob} is no longer configured: removed")]
    private partial void LogRemoved(string recurringJob);

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} paused by {By}")]
    private partial void LogPaused(string schedule, string by);

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} resumed")]
    private partial void LogResumed(string schedule);
}
