using System.Globalization;
using System.Text.Json.Nodes;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Infrastructure;
using Aireiter.Simulator;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Tests.Engine;

/// <summary>
/// A whole deployment in miniature: a migrated database of its own, the simulator on loopback in this
/// process, and real worker processes pointed at both, with every documented timing scaled down.
/// Requests are enqueued through the same library call the API and the importer use.
/// </summary>
public sealed class EngineHarness : IAsyncDisposable
{
    private readonly List<WorkerProcess> _workers = [];
    private readonly Dictionary<string, string> _settings;

    private EngineHarness(RunningSimulator simulator, string database, Dictionary<string, string> settings)
    {
        Simulator = simulator;
        Database = database;
        _settings = settings;
        DataSource = NpgsqlDataSource.Create(database);
        var contexts = Aireiter.Jobs.Storage.JobsDbContext.CreateFactory(DataSource);
        Batches = new Aireiter.Jobs.Batches.BatchStore(contexts, TimeProvider.System);
        Enqueuer = new RequestEnqueuer(contexts, Batches, new FixedOptions<Aireiter.Jobs.Engine.EngineOptions>(new()), TimeProvider.System);
    }

    public RunningSimulator Simulator { get; }
    public string Database { get; }
    public NpgsqlDataSource DataSource { get; }
    public RequestEnqueuer Enqueuer { get; }
    public Aireiter.Jobs.Batches.BatchStore Batches { get; }
    public IReadOnlyList<WorkerProcess> Workers => _workers;

    /// <summary>False when the database belongs to a server the test runs itself.</summary>
    public bool OwnsDatabase { get; set; } = true;

    /// <summary>Fast simulator timings: a task completes 300 ms (±100) after submit.</summary>
    public static SimulatorOptions FastSimulator() => new()
    {
        Seed = 11,
        Timing = new TaskTiming
        {
            ProcessingAfter = TimeSpan.FromMilliseconds(100),
            CompletedAfter = TimeSpan.FromMilliseconds(300),
            Jitter = TimeSpan.FromMilliseconds(100),
        },
    };

    public static async Task<EngineHarness> StartAsync(string name, SimulatorOptions simulator, params (string Key, string Value)[] settings) =>
        await StartOnAsync(await TestPostgres.CreateMigratedDatabaseAsync(name), simulator, settings);

    /// <summary>On a database of the caller's (already migrated), e.g. one on a server the test stops and starts.</summary>
    public static async Task<EngineHarness> StartOnAsync(string database, SimulatorOptions simulator, params (string Key, string Value)[] settings)
    {
        var running = await SimulatorHost.StartAsync(simulator);
        var all = new Dictionary<string, string>
        {
            ["ConnectionStrings:Jobs"] = database,
            ["Aireiter:BaseUrl"] = running.BaseAddress.ToString(),
            ["Aireiter:ApiKey"] = simulator.ApiKey,
            ["Aireiter:AttemptTimeout"] = "00:00:02",
            ["Aireiter:QueryRetries"] = "1",
            ["Aireiter:QueryRetryBaseDelay"] = "00:00:00.020",
            ["Aireiter:SubmitsPerSecond"] = "1000",
            ["Aireiter:CircuitBreaker:MinimumThroughput"] = "1000",
            ["Aireiter:Polling:InitialDelayMin"] = "00:00:00.100",
            ["Aireiter:Polling:InitialDelayMax"] = "00:00:00.200",
            ["Aireiter:Polling:IntervalMin"] = "00:00:00.100",
            ["Aireiter:Polling:IntervalMax"] = "00:00:00.200",
            ["Aireiter:Polling:Deadline"] = "00:00:05",
            ["Aireiter:Polling:ReconcileInterval"] = "00:00:00.500",
            ["Aireiter:Polling:ReconcileWindow"] = "00:00:20",
            ["Engine:IdleTick"] = "00:00:00.100",
            ["Engine:IdleTickMax"] = "00:00:00.300",
            ["Engine:LeaseDuration"] = "00:00:02",
            ["Engine:LeaseSweepInterval"] = "00:00:01",
            ["Engine:RetryBaseDelay"] = "00:00:00.050",
            ["Engine:RetryMaxDelay"] = "00:00:00.500",
            ["Engine:AmbiguityDelay"] = "00:00:00.100",
            ["Engine:PauseProbeInterval"] = "00:00:00.500",
            ["Engine:Limits:SubmitsPerSecond"] = "500",
            ["Cluster:HeartbeatInterval"] = "00:00:01",
            ["Hangfire:QueuePollInterval"] = "00:00:01",
            ["Hangfire:SchedulePollingInterval"] = "00:00:01",
            ["Hangfire:InvisibilityTimeout"] = "00:00:05",
            ["Hangfire:HeartbeatInterval"] = "00:00:02",
            ["Hangfire:ServerTimeout"] = "00:00:10",
            ["Serilog:MinimumLevel:Default"] = "Information",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return new EngineHarness(running, database, all);
    }

    public Task<WorkerProcess> StartWorkerAsync(string nodeId = "node-a", params (string Key, string Value)[] more) =>
        StartWorkerAsync(nodeId, port: null, more);

    public async Task<WorkerProcess> StartWorkerAsync(string nodeId, int? port, params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string>(_settings) { ["Cluster:NodeId"] = nodeId };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        var worker = WorkerProcess.Start(settings, port: port);
        _workers.Add(worker);
        await worker.WaitUntilReadyAsync();
        return worker;
    }

    /// <summary>The settings a worker gets, for running the command-line verbs against the same database.</summary>
    public IReadOnlyDictionary<string, string> Settings => _settings;

    public static NewRequest Request(string key, string prompt = "a chair on white", string model = "gpt_image_2") =>
        new(model, new JsonObject { ["prompt"] = prompt, ["aspect_ratio"] = "1:1", ["resolution"] = "2K" }) { Key = key };

    public async Task<IReadOnlyList<EnqueueResult>> EnqueueAsync(int count, string prefix = "item", string model = "gpt_image_2")
    {
        var requests = Enumerable.Range(0, count).Select(i => Request($"{prefix}-{i:D5}", model: model)).ToList();
        return await Enqueuer.EnqueueAsync(requests, scope: null, CancellationToken.None);
    }

    /// <summary>Every request's state, by out_task_id.</summary>
    public async Task<Dictionary<string, StoredRequest>> ReadAsync()
    {
        await using var command = DataSource.CreateCommand("""
            select out_task_id, state, credits_used, estimated_credits, error_kind, error_message, completed_late, attempts,
                   (select count(*) from request_outputs o where o.request_id = r.id)
            from generation_requests r
            """);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<string, StoredRequest>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = new StoredRequest(
                RequestStates.FromStorage(reader.GetString(1)),
                reader.IsDBNull(2) ? null : reader.GetDecimal(2),
                reader.IsDBNull(3) ? null : reader.GetDecimal(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetBoolean(6),
                reader.GetInt32(7),
                (int)reader.GetInt64(8));
        }

        return rows;
    }

    public async Task<List<string>> EventsAsync(string outTaskId)
    {
        await using var command = DataSource.CreateCommand("""
            select coalesce(e.from_state, '-') || '>' || e.to_state || ':' || e.reason
            from request_events e join generation_requests r on r.id = e.request_id
            where r.out_task_id = @id order by e.id
            """);
        command.Parameters.AddWithValue("id", outTaskId);
        await using var reader = await command.ExecuteReaderAsync();
        var events = new List<string>();
        while (await reader.ReadAsync())
        {
            events.Add(reader.GetString(0));
        }

        return events;
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>Waits until every request is in a final state (timed-out ones included).</summary>
    public Task WaitUntilAllFinalAsync(TimeSpan timeout) =>
        WaitUntilAsync(async () => await ScalarAsync(
            "select count(*) from generation_requests where state in ('queued', 'submitting', 'running')") == 0, timeout, "every request final");

    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await Holds(condition))
        {
            if (DateTime.UtcNow > deadline)
            {
                var states = await ReadAsync();
                var summary = string.Join(", ", states.Values.GroupBy(s => s.State).Select(g => $"{g.Key}={g.Count()}"));
                var log = string.Join('\n', _workers.SelectMany(w => w.Output).TakeLast(40));
                throw new TimeoutException($"Not reached within {timeout}: {what}. States: {summary}\n{log}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>A database that is down (some tests stop it) means "not yet", not a failed test.</summary>
    private static async Task<bool> Holds(Func<Task<bool>> condition)
    {
        try
        {
            return await condition();
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        await Simulator.DisposeAsync();
        await DataSource.DisposeAsync();
        if (OwnsDatabase)
        {
            await TestPostgres.DropDatabaseAsync(Database);
        }
    }
}

public sealed record StoredRequest(RequestState State, decimal? CreditsUsed, decimal? EstimatedCredits, string? ErrorKind,
    string? ErrorMessage, bool CompletedLate, int Attempts, int Outputs);
