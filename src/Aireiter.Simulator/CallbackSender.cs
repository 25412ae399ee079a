using System.Net.Http.Json;

namespace Aireiter.Simulator;

/// <summary>
/// POSTs to a task's <c>callback_url</c> once it has finished: on time, late, twice, or never.
/// The payload is a guess at the undocumented real one: ids and status only.
/// </summary>
public sealed partial class CallbackSender(SimulatedUpstream upstream, IHttpClientFactory clients, ILogger<CallbackSender> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50), upstream.Time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var options = upstream.Options;
            if (options.Callbacks == CallbackMode.Never)
            {
                continue;
            }

            var now = upstream.Time.GetUtcNow();
            var wanted = options.Callbacks == CallbackMode.Duplicated ? 2 : 1;
            var delay = options.Callbacks == CallbackMode.Late ? options.CallbackDelay : TimeSpan.Zero;
            foreach (var task in upstream.Tasks())
            {
                if (task.CallbackUrl is null || task.CallbacksSent >= wanted || now < task.FinishesAt + delay)
                {
                    continue;
                }

                task.CallbacksSent++;
                await Send(task, now, stoppingToken);
            }
        }
    }

    private async Task Send(SimulatedTask task, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            using var client = clients.CreateClient(nameof(CallbackSender));
            client.Timeout = TimeSpan.FromSeconds(5);
            using var response = await client.PostAsJsonAsync(task.CallbackUrl, new
            {
                task_id = task.TaskId,
                out_task_id = task.OutTaskId,
                status = task.StatusAt(now),
            }, cancellationToken);
            upstream.CountCallback();
            LogSent(task.OutTaskId, (int)response.StatusCode);
        }
        catch (HttpRequestException ex)
        {
            LogFailed(task.OutTaskId, ex.Message);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogFailed(task.OutTaskId, "timed out");
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Callback for {OutTaskId} answered {Status}")]
    private partial void LogSent(string outTaskId, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "Callback for {OutTaskId} failed: {Reason}")]
    private partial void LogFailed(string outTaskId, string reason);
}
