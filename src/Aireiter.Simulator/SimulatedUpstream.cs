using System.Text.Json.Nodes;

namespace Aireiter.Simulator;

/// <summary>One task the simulator accepted (and billed).</summary>
public sealed class SimulatedTask
{
    public required string TaskId { get; init; }
    public required string OutTaskId { get; init; }
    public required string Model { get; init; }
    public required JsonObject Params { get; init; }
    public JsonObject? Metadata { get; init; }
    public Uri? CallbackUrl { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset ProcessingAt { get; init; }
    private long _finishesAtTicks;

    /// <summary>When the task completes (or fails); UTC. Read and moved atomically, since queries read it while a test may move it.</summary>
    public DateTimeOffset FinishesAt
    {
        get => new(Interlocked.Read(ref _finishesAtTicks), TimeSpan.Zero);
        init => _finishesAtTicks = value.UtcTicks;
    }

    public bool WillFail { get; init; }
    public decimal Cost { get; init; }
    public int CallbacksSent { get; set; }

    public string StatusAt(DateTimeOffset now) =>
        now >= FinishesAt ? (WillFail ? "failed" : "completed") : now >= ProcessingAt ? "processing" : "pending";

    /// <summary>Makes the task finish at <paramref name="now"/>: for tests that need a result at a moment of their choosing.</summary>
    public void FinishAt(DateTimeOffset now) => Interlocked.Exchange(ref _finishesAtTicks, now.UtcTicks);

    /// <summary>Failed tasks are refunded; everything else accepted stays billed.</summary>
    public decimal BilledAt(DateTimeOffset now) => WillFail && now >= FinishesAt ? 0 : Cost;
}

/// <summary>What the simulator has seen, for tests and benchmarks to assert against.</summary>
public sealed record SimulatorStats(
    int SubmitRequests,
    int QueryRequests,
    int SubmitCalls,
    IReadOnlyDictionary<string, int> SubmitsPerOutTaskId,
    int TasksBilled,
    IReadOnlyDictionary<string, int> TasksBilledPerOutTaskId,
    decimal CreditsBilled,
    int QueryCalls,
    IReadOnlyDictionary<string, IReadOnlyList<DateTimeOffset>> QueryTimes,
    int CallbacksSent,
    decimal? Balance,
    IReadOnlyList<DateTimeOffset> SubmitRequestTimes,
    IReadOnlyDictionary<string, IReadOnlyList<DateTimeOffset>> QueryRequestTimes,
    IReadOnlyDictionary<string, DateTimeOffset> CreatedAtPerOutTaskId);

/// <summary>The simulator's state: its tasks, its account and its counters. Thread-safe.</summary>
public sealed class SimulatedUpstream(SimulatorOptions options, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SimulatedTask> _byTaskId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<SimulatedTask>> _byOutTaskId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _submits = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<DateTimeOffset>> _queries = new(StringComparer.Ordinal);
    private readonly List<DateTimeOffset> _submitTimes = [];
    private readonly Dictionary<string, List<DateTimeOffset>> _queryRequestTimes = new(StringComparer.Ordinal);
    private Random _random = options.Seed is { } seed ? new Random(seed) : new Random();
    private int _submitRequests;
    private int _queryRequests;
    private int _submitCalls;
    private int _queryCalls;
    private int _callbacks;
    private long _nextId;

    /// <summary>The live switches; change them (or replace them) at any time.</summary>
    public SimulatorOptions Options { get; set; } = options;

    public TimeProvider Time => time;

    public double NextDouble()
    {
        lock (_gate)
        {
            return _random.NextDouble();
        }
    }

    /// <summary>Every HTTP request to a route, including those answered with an injected fault.</summary>
    public void CountRequest(bool isQuery)
    {
        lock (_gate)
        {
            if (isQuery)
            {
                _queryRequests++;
            }
            else
            {
                _submitRequests++;
                _submitTimes.Add(time.GetUtcNow());
            }
        }
    }

    /// <summary>A submit that got past faults and authentication with a readable body.</summary>
    public void CountSubmit(string outTaskId)
    {
        lock (_gate)
        {
            _submitCalls++;
            _submits[outTaskId] = _submits.GetValueOrDefault(outTaskId) + 1;
        }
    }

    /// <summary>A query as it arrives, before any injected fault: when the upstream was asked about the task.</summary>
    public void CountQueryRequest(string outTaskId)
    {
        lock (_gate)
        {
            if (!_queryRequestTimes.TryGetValue(outTaskId, out var times))
            {
                _queryRequestTimes[outTaskId] = times = [];
            }

            times.Add(time.GetUtcNow());
        }
    }

    public void CountQuery(string? outTaskId)
    {
        lock (_gate)
        {
            _queryCalls++;
            if (outTaskId is not null)
            {
                if (!_queries.TryGetValue(outTaskId, out var times))
                {
                    _queries[outTaskId] = times = [];
                }

                times.Add(time.GetUtcNow());
            }
        }
    }

    public void CountCallback()
    {
        lock (_gate)
        {
            _callbacks++;
        }
    }

    /// <summary>The newest task with this out_task_id (with bill-again there may be several).</summary>
    public SimulatedTask? FindByOutTaskId(string outTaskId)
    {
        lock (_gate)
        {
            return _byOutTaskId.TryGetValue(outTaskId, out var tasks) ? tasks[^1] : null;
        }
    }

    /// <summary>Every task with this out_task_id finishes now (a test's "the result arrives at this moment").</summary>
    public void FinishNow(string outTaskId)
    {
        lock (_gate)
        {
            foreach (var task in _byOutTaskId.GetValueOrDefault(outTaskId) ?? [])
            {
                task.FinishAt(time.GetUtcNow());
            }
        }
    }

    public SimulatedTask? FindByTaskId(string taskId)
    {
        lock (_gate)
        {
            return _byTaskId.GetValueOrDefault(taskId);
        }
    }

    public IReadOnlyList<SimulatedTask> Tasks()
    {
        lock (_gate)
        {
            return _byTaskId.Values.ToList();
        }
    }

    public decimal CostOf(string model, JsonObject parameters)
    {
        var resolution = parameters["resolution"] is JsonValue value && value.TryGetValue<string>(out var r) ? r : null;
        var credits = Options.Credits;
        return resolution is not null && credits.TryGetValue($"{model}@{resolution}", out var exact) ? exact
            : credits.TryGetValue(model, out var byModel) ? byModel
            : Options.DefaultCredits;
    }

    /// <summary>Creates and bills a task, unless the account cannot pay for it (then null).</summary>
    public SimulatedTask? Accept(string outTaskId, string model, JsonObject parameters, JsonObject? metadata, Uri? callbackUrl)
    {
        var settings = Options;
        var timing = settings.ModelTimings.GetValueOrDefault(model) ?? settings.Timing;
        var cost = CostOf(model, parameters);
        lock (_gate)
        {
            if (settings.Balance is { } balance)
            {
                if (balance < cost)
                {
                    return null;
                }

                settings.Balance = balance - cost;
            }

            var now = time.GetUtcNow();
            var jitter = (_random.NextDouble() * 2 - 1) * timing.Jitter.TotalMilliseconds;
            var finishes = now + timing.CompletedAfter + TimeSpan.FromMilliseconds(jitter);
            var processing = now + timing.ProcessingAfter;
            var task = new SimulatedTask
            {
                TaskId = $"order_{++_nextId:D8}{_random.Next(0x10000):x4}",
                OutTaskId = outTaskId,
                Model = model,
                Params = parameters,
                Metadata = metadata,
                CallbackUrl = callbackUrl,
                CreatedAt = now,
                ProcessingAt = processing < finishes ? processing : finishes,
                FinishesAt = finishes > now ? finishes : now,
                WillFail = _random.NextDouble() < settings.FailureRate,
                Cost = cost,
            };
            _byTaskId[task.TaskId] = task;
            if (!_byOutTaskId.TryGetValue(outTaskId, out var list))
            {
                _byOutTaskId[outTaskId] = list = [];
            }

            list.Add(task);
            return task;
        }
    }

    public SimulatorStats Stats()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            return new SimulatorStats(
                _submitRequests,
                _queryRequests,
                _submitCalls,
                new Dictionary<string, int>(_submits),
                _byTaskId.Count,
                _byOutTaskId.ToDictionary(p => p.Key, p => p.Value.Count),
                _byTaskId.Values.Sum(t => t.BilledAt(now)),
                _queryCalls,
                _queries.ToDictionary(p => p.Key, p => (IReadOnlyList<DateTimeOffset>)p.Value.ToList()),
                _callbacks,
                Options.Balance,
                _submitTimes.ToList(),
                _queryRequestTimes.ToDictionary(p => p.Key, p => (IReadOnlyList<DateTimeOffset>)p.Value.ToList()),
                _byOutTaskId.ToDictionary(p => p.Key, p => p.Value[^1].CreatedAt));
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            _byTaskId.Clear();
            _byOutTaskId.Clear();
            _submits.Clear();
            _queries.Clear();
            _submitTimes.Clear();
            _queryRequestTimes.Clear();
            _submitRequests = 0;
            _queryRequests = 0;
            _submitCalls = 0;
            _queryCalls = 0;
            _callbacks = 0;
            _random = Options.Seed is { } seed ? new Random(seed) : new Random();
        }
    }
}
