using System.Globalization;
using Aireiter.Jobs.Import;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quartz;

namespace Aireiter.Jobs.Schedules;

/// <summary>
/// One run of a schedule: every file in its inbox that matches becomes one batch, named after the schedule,
/// the night and the file. Imported files move to the archive; refused ones to the rejected folder with a
/// report beside them. Firing twice for the same night imports nothing twice: the files are gone, and a file
/// dropped again lands in the same batch, where its lines are already present.
/// </summary>
[DisallowConcurrentExecution]
public sealed partial class ScheduledImportJob(CatalogueImporter importer, IOptionsMonitor<SchedulesOptions> schedules, TimeProvider time,
    ILogger<ScheduledImportJob> logger) : IJob
{
    public const string Group = "schedules";
    public const string ScheduleKey = "schedule";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var name = context.MergedJobDataMap.GetString(ScheduleKey) ?? context.JobDetail.Key.Name;
        if (schedules.CurrentValue.Find(name) is not { Enabled: true } schedule)
        {
            LogUnknown(name);
            return;
        }

        var zone = TimeZoneInfo.FindSystemTimeZoneById(schedule.TimeZone);
        var nominal = context.ScheduledFireTimeUtc ?? time.GetUtcNow();
        var night = TimeZoneInfo.ConvertTime(nominal, zone).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        LogRunning(name, night, nominal, time.GetUtcNow() - nominal);

        if (!Directory.Exists(schedule.Inbox))
        {
            LogNoInbox(name, schedule.Inbox);
            context.Result = JobRunReport.Skipped($"inbox {schedule.Inbox} does not exist");
            return;
        }

        var files = Directory.GetFiles(schedule.Inbox, schedule.Pattern).Order(StringComparer.Ordinal).ToList();
        var imported = 0;
        foreach (var file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
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

        context.Result = JobRunReport.Succeeded().With("files", files.Count).With("imported", imported);
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
}
