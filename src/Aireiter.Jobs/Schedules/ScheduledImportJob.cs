using Microsoft.Extensions.DependencyInjection;
using Aireiter.Jobs.Storage;
using System.Globalization;
using Aireiter.Jobs.Import;
using Hangfire;
using Hangfire.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Schedules;

/// <summary>
/// One run of a schedule, as a Hangfire job: every file in its inbox that matches becomes one batch, named after the
/// schedule, the night and the file. Imported files move to the archive; refused ones to the rejected folder with a
/// report beside them. It may run twice (a retry, a node that died mid-run, "Trigger now" during a run) and never
/// imports twice: a file already moved is gone, a file dropped again lands in the same batch where its lines are
/// already present, and two runs of one schedule at once are kept apart by a PostgreSQL session lock that dies with
/// its node (Hangfire's own lock would outlive a killed node by its timeout).
/// </summary>
[AutomaticRetry(Attempts = 3, DelaysInSeconds = [30, 120, 600], OnAttemptsExceeded = AttemptsExceededAction.Fail)]
public sealed partial class ScheduledImportJob(CatalogueImporter importer, IOptionsMonitor<SchedulesOptions> schedules, [FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource,
    TimeProvider time, ILogger<ScheduledImportJob> logger)
{
    public static string RecurringJobId(string schedule) => $"schedule:{schedule}";

    [JobDisplayName("Import the inbox of schedule {0}")]
    public async Task<string> RunAsync(string schedule, PerformContext? context, CancellationToken cancellationToken)
    {
        if (schedules.CurrentValue.Find(schedule) is not { Enabled: true } options)
        {
            LogUnknown(schedule);
            return "not configured on this node; skipped";
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await TryLockAsync(connection, schedule, cancellationToken))
        {
            LogBusy(schedule);
            return "another run of this schedule is importing; skipped";
        }

        try
        {
            return await ImportInboxAsync(schedule, options, FireTime(context), cancellationToken);
        }
        finally
        {
            await UnlockAsync(connection, schedule);
        }
    }

    private async Task<string> ImportInboxAsync(string name, ScheduleOptions schedule, DateTimeOffset due, CancellationToken cancellationToken)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(schedule.TimeZone);
        var night = TimeZoneInfo.ConvertTime(due, zone).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        LogRunning(name, night, due, time.GetUtcNow() - due);

        if (!Directory.Exists(schedule.Inbox))
        {
            LogNoInbox(name, schedule.Inbox);
            return $"inbox {schedule.Inbox} does not exist; nothing imported";
        }

        var files = Directory.GetFiles(schedule.Inbox, schedule.Pattern).Order(StringComparer.Ordinal).ToList();
        var imported = 0;
        foreach (var file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!File.Exists(file))
            {
                continue;
            }

            var report = await importer.ImportFileAsync(file, new ImportOptions
            {
                BatchName = $"{name}-{night}-{Path.GetFileNameWithoutExtension(file)}",
                BatchSource = "schedule",
                BatchCreditBudget = schedule.CreditBudget,
                Defaults = schedule.Defaults,
                Delimiter = schedule.Delimiter,
            }, cancellationToken);

            var refused = report.FileError is not null;
            var folder = Path.Combine(refused ? schedule.RejectedFolder : schedule.ArchiveFolder, night);
            Directory.CreateDirectory(folder);
            var target = Path.Combine(folder, Path.GetFileName(file));
            File.Move(file, target, overwrite: true);
            if (refused || report.InvalidCount > 0)
            {
                await File.WriteAllTextAsync(target + ".report.txt", report.ToText(), cancellationToken);
            }

            imported += refused ? 0 : 1;
            LogFile(name, Path.GetFileName(file), report.BatchName, report.Inserted, report.AlreadyPresent, report.InvalidCount, report.FileError);
        }

        return $"{files.Count} files, {imported} imported";
    }

    /// <summary>When this run was due: the time Hangfire fired it (recorded on the job), else now.</summary>
    private DateTimeOffset FireTime(PerformContext? context) =>
        context?.GetJobParameter<long?>("Time") is { } seconds ? DateTimeOffset.FromUnixTimeSeconds(seconds) : time.GetUtcNow();

    private static async Task<bool> TryLockAsync(NpgsqlConnection connection, string schedule, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_try_advisory_lock(hashtext('schedule:' || @name))", connection);
        command.Parameters.AddWithValue("name", schedule);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Pooled connections keep their session, so the lock is given back explicitly, not left to the pool.</summary>
    private static async Task UnlockAsync(NpgsqlConnection connection, string schedule)
    {
        await using var command = new NpgsqlCommand("select pg_advisory_unlock(hashtext('schedule:' || @name))", connection);
        command.Parameters.AddWithValue("name", schedule);
        await command.ExecuteScalarAsync(CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} runs for {Night} (due {Due:u}, {Late} late)")]
    private partial void LogRunning(string schedule, string night, DateTimeOffset due, TimeSpan late);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Schedule {Schedule}: {File} into {Batch}: {Inserted} new, {AlreadyPresent} already present, {Invalid} invalid {FileError}")]
    private partial void LogFile(string schedule, string file, string batch, long inserted, long alreadyPresent, long invalid, string? fileError);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {Schedule}: the inbox {Inbox} does not exist; nothing imported")]
    private partial void LogNoInbox(string schedule, string inbox);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule {Schedule} fired but is not configured (or disabled) here; skipped")]
    private partial void LogUnknown(string schedule);

    [LoggerMessage(Level = LogLevel.Information, Message = "Schedule {Schedule} is already being imported by another run; this one skips")]
    private partial void LogBusy(string schedule);
}
