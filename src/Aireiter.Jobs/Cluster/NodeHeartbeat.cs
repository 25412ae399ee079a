using Microsoft.Extensions.DependencyInjection;
using Aireiter.Jobs.Storage;
using System.Reflection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Aireiter.Jobs.Polling;
using Npgsql;

namespace Aireiter.Jobs.Cluster;

/// <summary>Announces this node in <c>cluster_nodes</c>, beats while it runs, and signs off when it stops.</summary>
public sealed partial class NodeHeartbeat([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource, IOptions<ClusterOptions> cluster, PollLateness lateness,
    TimeProvider time, ILogger<NodeHeartbeat> logger) : BackgroundService
{
    private readonly DateTimeOffset _started = time.GetUtcNow();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Beat(stopped: false, stoppingToken);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                LogBeatFailed(ex.Message);
            }

            await Task.Delay(cluster.Value.HeartbeatInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await Beat(stopped: true, cancellationToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            LogBeatFailed(ex.Message);
        }
    }

    private async Task Beat(bool stopped, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            insert into cluster_nodes (node_id, host_name, process_id, version, started_at, heartbeat_at, stopped_at,
                                       polls_last_interval, poll_lateness_p50_ms, poll_lateness_p99_ms, poll_lateness_max_ms)
            values (@node, @host, @pid, @version, @started, @now, @stopped, @polls, @p50, @p99, @max)
            on conflict (node_id) do update set heartbeat_at = @now, stopped_at = @stopped,
                host_name = excluded.host_name, process_id = excluded.process_id, version = excluded.version,
                started_at = excluded.started_at, polls_last_interval = @polls,
                poll_lateness_p50_ms = @p50, poll_lateness_p99_ms = @p99, poll_lateness_max_ms = @max
            """);
        var window = lateness.TakeWindow();
        var now = time.GetUtcNow();
        command.Parameters.AddWithValue("node", cluster.Value.NodeId);
        command.Parameters.AddWithValue("host", Environment.MachineName);
        command.Parameters.AddWithValue("pid", Environment.ProcessId);
        command.Parameters.AddWithValue("version", typeof(NodeHeartbeat).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev");
        command.Parameters.AddWithValue("started", _started);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.Add(new NpgsqlParameter("stopped", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = stopped ? now : DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter<int>("polls", window?.Polls ?? 0));
        command.Parameters.Add(new NpgsqlParameter("p50", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)window?.P50Ms ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("p99", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)window?.P99Ms ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("max", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)window?.MaxMs ?? DBNull.Value });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat failed: {Reason}")]
    private partial void LogBeatFailed(string reason);
}
