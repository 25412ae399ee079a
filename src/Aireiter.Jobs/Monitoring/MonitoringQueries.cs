using Aireiter.Jobs.Polling;
using System.Text.Json;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Requests;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Monitoring;

public sealed record StateCounts(IReadOnlyDictionary<string, long> ByState)
{
    public long Total => ByState.Values.Sum();
}

public sealed record ThroughputPoint(DateTimeOffset Minute, long Completed, long Failed);

public sealed record NodeInfo(string NodeId, string HostName, int ProcessId, string Version, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt,
    DateTimeOffset? StoppedAt, bool Alive, LatenessWindow? PollLateness);

public sealed record PauseInfo(string Reason, string Message, DateTimeOffset PausedAt, DateTimeOffset? ProbeAt);

public sealed record TodaySoFar(long Succeeded, long Failed, decimal CreditsUsed);

public sealed record Stats(
    StateCounts Counts,
    IReadOnlyList<ThroughputPoint> Throughput,
    decimal CreditsToday,
    decimal CreditsThisMonth,
    decimal? DailyBudget,
    IReadOnlyList<PauseInfo> Pauses,
    IReadOnlyList<NodeInfo> Nodes);

public sealed record RequestSummary(long Id, string OutTaskId, string? Key, string? Batch, string Model, string State, string? Prompt,
    int Attempts, decimal? CreditsUsed, string? ErrorKind, string? ErrorMessage, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt, bool CompletedLate);

public sealed record OutputInfo(int Position, string Url, string DownloadState, string? ContentType, long? SizeBytes, string? Sha256,
    string? StoredPath, string? DownloadError);

public sealed record EventInfo(DateTimeOffset At, string? From, string To, string Reason, string? Detail, string? Node);

public sealed record RequestDetail(RequestSummary Request, JsonElement Params, JsonElement? Metadata, string? UpstreamOutTaskId,
    string? UpstreamTaskId, decimal? EstimatedCredits, DateTimeOffset? SubmittedAt, DateTimeOffset? DeadlineAt, DateTimeOffset? NotBefore,
    int Polls, int Retries, IReadOnlyList<OutputInfo> Outputs, IReadOnlyList<EventInfo> Events);

/// <summary>A filter for the request list; every field narrows it.</summary>
public sealed record RequestFilter
{
    public string? State { get; init; }
    public string? Model { get; init; }
    public string? Batch { get; init; }
    public DateTimeOffset? From { get; init; }
    public DateTimeOffset? To { get; init; }

    /// <summary>An exact out_task_id or key (indexed).</summary>
    public string? Text { get; init; }

    /// <summary>Words of the prompt. Not indexed: it scans until it has a page, so narrow it with the other filters.</summary>
    public string? Prompt { get; init; }
}

public sealed record RequestPage(IReadOnlyList<RequestSummary> Items, long? Next);

/// <summary>
/// The narrow read side the API and the dashboard use. Every query is shaped for a table of millions of rows:
/// counts come from trigger-kept counters, lists are keyset pages on an index, never OFFSET.
/// </summary>
public sealed class MonitoringQueries(NpgsqlDataSource dataSource, IOptionsMonitor<EngineOptions> engine, TimeProvider time)
{
    public const int MaxPageSize = 200;

    public async Task<StateCounts> CountsAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select state, sum(count)::bigint from request_counts group by state having sum(count) <> 0");
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return new StateCounts(counts);
    }

    /// <summary>
    /// Since midnight UTC: requests that reached Succeeded, those that reached Failed or TimedOut, and credits used. Cheaper
    /// than <see cref="StatsAsync"/> (no throughput chart, no nodes), for figures read every few seconds.
    /// </summary>
    public async Task<TodaySoFar> TodayAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            select count(*) filter (where state = 'succeeded'), count(*) filter (where state in ('failed', 'timed_out')),
                   (select coalesce(sum(credits), 0) from daily_credits where day = @day)
            from generation_requests where completed_at >= @since
            """);
        var midnight = time.GetUtcNow().UtcDateTime.Date;
        command.Parameters.AddWithValue("since", new DateTimeOffset(midnight, TimeSpan.Zero));
        command.Parameters.AddWithValue("day", DateOnly.FromDateTime(midnight));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new TodaySoFar(reader.GetInt64(0), reader.GetInt64(1), reader.GetDecimal(2));
    }

    public async Task<Stats> StatsAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var counts = await CountsAsync(cancellationToken);

        var throughput = new List<ThroughputPoint>();
        await using (var command = dataSource.CreateCommand("""
            select date_trunc('minute', completed_at), count(*) filter (where state = 'succeeded'), count(*) filter (where state in ('failed', 'timed_out'))
            from generation_requests where completed_at >= @since and state <> 'cancelled' group by 1 order by 1
            """))
        {
            command.Parameters.AddWithValue("since", now.AddMinutes(-60));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                throughput.Add(new ThroughputPoint(reader.GetFieldValue<DateTimeOffset>(0), reader.GetInt64(1), reader.GetInt64(2)));
            }
        }

        decimal today, month;
        await using (var command = dataSource.CreateCommand("""
            select coalesce(sum(credits) filter (where day = @today), 0), coalesce(sum(credits), 0)
            from daily_credits where day >= @month
            """))
        {
            var utc = now.UtcDateTime;
            command.Parameters.AddWithValue("today", DateOnly.FromDateTime(utc));
            command.Parameters.AddWithValue("month", new DateOnly(utc.Year, utc.Month, 1));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            today = reader.GetDecimal(0);
            month = reader.GetDecimal(1);
        }

        var pauses = new List<PauseInfo>();
        await using (var command = dataSource.CreateCommand("select reason, message, paused_at, probe_at from submit_pauses order by paused_at"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                pauses.Add(new PauseInfo(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2),
                    reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3)));
            }
        }

        var nodes = new List<NodeInfo>();
        await using (var command = dataSource.CreateCommand("""
            select node_id, host_name, process_id, version, started_at, heartbeat_at, stopped_at,
                   polls_last_interval, poll_lateness_p50_ms, poll_lateness_p99_ms, poll_lateness_max_ms from cluster_nodes
            where stopped_at is null or stopped_at > @recent order by node_id
            """))
        {
            command.Parameters.AddWithValue("recent", now.AddHours(-1));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var heartbeat = reader.GetFieldValue<DateTimeOffset>(5);
                var stopped = reader.IsDBNull(6) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(6);
                nodes.Add(new NodeInfo(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4), heartbeat, stopped, stopped is null && now - heartbeat < TimeSpan.FromMinutes(1),
                    reader.IsDBNull(8) ? null : new LatenessWindow(reader.GetInt32(7), reader.GetInt32(8), reader.GetInt32(9), reader.GetInt32(10))));
            }
        }

        return new Stats(counts, throughput, today, month, engine.CurrentValue.Limits.DailyCreditBudget, pauses, nodes);
    }

    /// <summary>Newest first, <paramref name="limit"/> at a time; pass the previous page's <see cref="RequestPage.Next"/> as <paramref name="before"/>.</summary>
    public async Task<RequestPage> ListAsync(RequestFilter filter, long? before, int limit, CancellationToken cancellationToken)
    {
        limit = Math.Clamp(limit, 1, MaxPageSize);
        var where = new List<string>();
        await using var command = dataSource.CreateCommand();
        if (before is { } id)
        {
            where.Add("r.id < @before");
            command.Parameters.AddWithValue("before", id);
        }

        if (filter.State is { } state)
        {
            where.Add("r.state = @state");
            command.Parameters.AddWithValue("state", state);
        }

        if (filter.Model is { } model)
        {
            where.Add("r.model = @model");
            command.Parameters.AddWithValue("model", model);
        }

        if (filter.Batch is { } batch)
        {
            where.Add("r.batch_id = (select id from batches where name = @batch)");
            command.Parameters.AddWithValue("batch", batch);
        }

        if (filter.From is { } from)
        {
            where.Add("r.created_at >= @from");
            command.Parameters.AddWithValue("from", from.ToUniversalTime());
        }

        if (filter.To is { } to)
        {
            where.Add("r.created_at < @to");
            command.Parameters.AddWithValue("to", to.ToUniversalTime());
        }

        if (!string.IsNullOrWhiteSpace(filter.Text))
        {
            // Two indexed lookups, not one OR the planner would have to scan for.
            where.Add("r.id in (select id from generation_requests where out_task_id = @text union all select id from generation_requests where item_key = @text)");
            command.Parameters.AddWithValue("text", filter.Text.Trim());
        }

        if (!string.IsNullOrWhiteSpace(filter.Prompt))
        {
            where.Add("r.params->>'prompt' ilike @like");
            command.Parameters.AddWithValue("like", "%" + filter.Prompt.Trim().Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%");
        }

        command.CommandText = $"""
            {SummarySelect}
            {(where.Count > 0 ? "where " + string.Join(" and ", where) : "")}
            order by r.id desc
            limit @limit
            """;
        command.Parameters.AddWithValue("limit", limit + 1);
        var items = await ReadSummaries(command, cancellationToken);
        return items.Count > limit ? new RequestPage(items[..limit], items[limit - 1].Id) : new RequestPage(items, null);
    }

    public async Task<RequestDetail?> DetailAsync(string outTaskId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand();
        command.CommandText = """
            select r.id, r.out_task_id, r.item_key, b.name, r.model, r.state, r.params->>'prompt', r.attempts, r.credits_used, r.error_kind,
                   r.error_message, r.created_at, r.updated_at, r.completed_at, r.completed_late,
                   r.params::text, r.metadata::text, r.upstream_out_task_id, r.upstream_task_id, r.estimated_credits,
                   r.submitted_at, r.deadline_at, r.not_before, r.polls, r.retries
            from generation_requests r left join batches b on b.id = r.batch_id
            where r.out_task_id = @id
            """;
        command.Parameters.AddWithValue("id", outTaskId);
        long requestId;
        RequestSummary summary;
        JsonElement parameters;
        JsonElement? metadata;
        string? upstreamOutTaskId, upstreamTaskId;
        decimal? estimated;
        DateTimeOffset? submitted, deadline, notBefore;
        int polls, retries;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            summary = Summary(reader);
            requestId = summary.Id;
            parameters = JsonDocument.Parse(reader.GetString(15)).RootElement.Clone();
            metadata = reader.IsDBNull(16) ? null : JsonDocument.Parse(reader.GetString(16)).RootElement.Clone();
            upstreamOutTaskId = reader.IsDBNull(17) ? null : reader.GetString(17);
            upstreamTaskId = reader.IsDBNull(18) ? null : reader.GetString(18);
            estimated = reader.IsDBNull(19) ? null : reader.GetDecimal(19);
            submitted = reader.IsDBNull(20) ? null : reader.GetFieldValue<DateTimeOffset>(20);
            deadline = reader.IsDBNull(21) ? null : reader.GetFieldValue<DateTimeOffset>(21);
            notBefore = reader.IsDBNull(22) ? null : reader.GetFieldValue<DateTimeOffset>(22);
            polls = reader.GetInt32(23);
            retries = reader.GetInt32(24);
        }

        var outputs = new List<OutputInfo>();
        await using (var outputsCommand = dataSource.CreateCommand("""
            select position, url, download_state, content_type, size_bytes, sha256, stored_path, download_error
            from request_outputs where request_id = @id order by position
            """))
        {
            outputsCommand.Parameters.AddWithValue("id", requestId);
            await using var reader = await outputsCommand.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                outputs.Add(new OutputInfo(reader.GetInt32(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetInt64(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7)));
            }
        }

        // The timeline starts with the request's creation, which is not stored as an event.
        var events = new List<EventInfo> { new(summary.CreatedAt, null, "queued", "enqueued", notBefore is { } nb ? $"held until {nb:u}" : null, null) };
        await using (var eventsCommand = dataSource.CreateCommand(
            "select at, from_state, to_state, reason, detail, node from request_events where request_id = @id order by id limit 500"))
        {
            eventsCommand.Parameters.AddWithValue("id", requestId);
            await using var reader = await eventsCommand.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                events.Add(new EventInfo(reader.GetFieldValue<DateTimeOffset>(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2),
                    reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
            }
        }

        return new RequestDetail(summary, parameters, metadata, upstreamOutTaskId, upstreamTaskId, estimated, submitted, deadline, notBefore,
            polls, retries, outputs, events);
    }

    private const string SummarySelect = """
        select r.id, r.out_task_id, r.item_key, b.name, r.model, r.state, r.params->>'prompt', r.attempts, r.credits_used, r.error_kind,
               r.error_message, r.created_at, r.updated_at, r.completed_at, r.completed_late
        from generation_requests r left join batches b on b.id = r.batch_id
        """;

    private static async Task<List<RequestSummary>> ReadSummaries(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var list = new List<RequestSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(Summary(reader));
        }

        return list;
    }

    private static RequestSummary Summary(NpgsqlDataReader reader) => new(
        reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetString(4), reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetInt32(7),
        reader.IsDBNull(8) ? null : reader.GetDecimal(8), reader.IsDBNull(9) ? null : reader.GetString(9),
        reader.IsDBNull(10) ? null : reader.GetString(10), reader.GetFieldValue<DateTimeOffset>(11), reader.GetFieldValue<DateTimeOffset>(12),
        reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13), reader.GetBoolean(14));
}
