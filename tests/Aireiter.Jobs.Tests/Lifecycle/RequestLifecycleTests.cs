using System.Reflection;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Lifecycle;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Tests.Lifecycle;

/// <summary>
/// Every edge of the request state machine, straight against PostgreSQL: a row in every state, with this node's lease,
/// another node's, an expired one and none; the edge is run on each, and exactly the rows the edge table allows move,
/// to the states it names, each with its event, while the trigger-kept counters still match the rows.
/// </summary>
public sealed class RequestLifecycleTests
{
    private const string Us = "node-a";
    private const string Them = "node-b";

    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Who holds a seeded row: this node (live lease), another node (live), another node whose lease ran out, nobody.</summary>
    public enum Holder
    {
        Us,
        Them,
        Expired,
        Nobody,
    }

    /// <summary>How each edge is run in these tests: on one row, or (for edges that pick their own rows) once.</summary>
    private static readonly Dictionary<string, Func<RequestLifecycle, Seeded, Task>> PerRow = new()
    {
        [nameof(RequestLifecycle.SubmittedAsync)] = (l, r) => l.SubmittedAsync(r.Id, Now, "task-1", 2m, Now.AddMinutes(3), Now.AddSeconds(15), default),
        [nameof(RequestLifecycle.AdoptedAsync)] = (l, r) => l.AdoptedAsync(r.Id, Now, "task-1", Now.AddSeconds(-5), Now.AddMinutes(3), "found", default),
        [nameof(RequestLifecycle.RetryLaterAsync)] = (l, r) => l.RetryLaterAsync(r.Id, Now, Now.AddSeconds(30), "transient", "503", "503", true, default),
        [nameof(RequestLifecycle.PausedAsync)] = (l, r) => l.PausedAsync(r.Id, Now, "unauthorized", "bad key", default),
        [nameof(RequestLifecycle.GaveUpAsync)] = (l, r) => l.GaveUpAsync(r.Id, Now, "gave_up", "no luck", default),
        [nameof(RequestLifecycle.CompletedAsync)] = (l, r) => l.CompletedAsync(r.Id, Now, 2m, ["https://x/1.png"], false, "1 output", default),
        [nameof(RequestLifecycle.FailedAsync)] = (l, r) => l.FailedAsync(r.Id, Now, null, "upstream said no", default),
        [nameof(RequestLifecycle.TimedOutAsync)] = (l, r) => l.TimedOutAsync(r.Id, Now, Now.AddMinutes(10), Now.AddSeconds(30), Now.AddSeconds(-4), "late", default),
        [nameof(RequestLifecycle.LateResultAsync)] = (l, r) => l.LateResultAsync(r.Id, Now, true, 2m, ["https://x/1.png"], false, "late", default),
        // A callback for a task whose next poll is later than "now" (the rows are due a second before Now).
        [nameof(RequestLifecycle.PollNowAsync)] = (l, r) => l.PollNowAsync(r.OutTaskId, Now.AddMinutes(-1), default),
        [nameof(RequestLifecycle.RetriedAsync)] = (l, r) => l.RetriedAsync([r.Id], Now, default),
        [nameof(RequestLifecycle.CancelledAsync)] = (l, r) => l.CancelledAsync([r.Id], Now, default),
    };

    private static readonly Dictionary<string, Func<RequestLifecycle, JobsDbContext, Task>> Once = new()
    {
        [nameof(RequestLifecycle.ClaimForSubmitAsync)] = async (l, db) =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            await l.ClaimForSubmitAsync(db, new SubmitFilter(null, [], []), 100, Now, Now.AddMinutes(1), default);
            await transaction.CommitAsync();
        },
        [nameof(RequestLifecycle.LeaseExpiredAsync)] = (l, _) => l.LeaseExpiredAsync(Now, Now, default),
        [nameof(RequestLifecycle.HandedBackAsync)] = (l, _) => l.HandedBackAsync(Now, default),
    };

    /// <summary>Which holders an edge may move, beyond the from-states of the table.</summary>
    private static bool MayMove(string edge, Holder holder) => edge switch
    {
        nameof(RequestLifecycle.ClaimForSubmitAsync) or nameof(RequestLifecycle.RetriedAsync) => true,
        nameof(RequestLifecycle.LeaseExpiredAsync) => holder == Holder.Expired,
        nameof(RequestLifecycle.CancelledAsync) or nameof(RequestLifecycle.PollNowAsync) => holder == Holder.Nobody,
        _ => holder == Holder.Us, // a row a node works on: only its lease holder records the outcome
    };

    public static TheoryData<string> Edges() => [.. LifecycleEdges.All.Select(e => e.Method)];

    [Fact]
    public void TheEdgeTable_NamesEveryMethodOfTheLifecycle_AndNothingElse()
    {
        var methods = typeof(RequestLifecycle).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => !m.IsSpecialName).Select(m => m.Name).ToHashSet();
        var listed = LifecycleEdges.All.Select(e => e.Method).Concat(LifecycleEdges.LeaseOperations).Append(nameof(RequestLifecycle.WakeSubmittersAsync)).ToList();

        Assert.Equal(listed.Count, listed.Distinct().Count());
        Assert.Equal(methods.Order(), listed.Order());
        Assert.Equal(LifecycleEdges.All.Select(e => e.Method).Order(), PerRow.Keys.Concat(Once.Keys).Order());
    }

    [Theory]
    [MemberData(nameof(Edges))]
    public async Task AnEdge_MovesExactlyTheRowsItsTableEntryAllows_WithAnEventEach_AndTheCountersFollow(string method)
    {
        var edge = LifecycleEdges.All.Single(e => e.Method == method);
        await OnASeededDatabase(async (connectionString, contexts, rows) =>
        {
            var eventsBefore = await EventCounts(connectionString);

            var lifecycle = contexts.Lifecycle(Us);
            if (Once.TryGetValue(method, out var once))
            {
                await using var db = await contexts.Factory.CreateDbContextAsync();
                await once(lifecycle, db);
            }
            else
            {
                foreach (var row in rows)
                {
                    await PerRow[method](lifecycle, row);
                }
            }

            var after = (await ReadRows(connectionString)).ToDictionary(r => r.Id);
            var events = await EventCounts(connectionString);
            foreach (var row in rows)
            {
                var now = after[row.Id];
                var moves = edge.From.Contains(row.State) && MayMove(method, row.Holder);
                // Handing back also gives up the polls this node holds, which changes their lease but not their state.
                var released = method == nameof(RequestLifecycle.HandedBackAsync) && row.Holder == Holder.Us
                               && row.State is RequestState.Running or RequestState.TimedOut;
                var changed = now.State != row.State || now.DueAt != row.DueAt || now.LeaseOwner != row.LeaseOwner;
                var label = $"{method} on a {row.State.ToStorage()} row held by {row.Holder}";
                Assert.True((moves || released) == changed, $"{label}: expected {(moves ? "a move" : "no change")}, found {row.State} → {now.State}");
                var newEvents = events.GetValueOrDefault(row.Id) - eventsBefore.GetValueOrDefault(row.Id);
                if (!moves)
                {
                    Assert.True(newEvents == 0, $"{label}: {newEvents} events written for a row that did not move");
                    Assert.Equal(row.State, now.State);
                    continue;
                }

                Assert.Contains(now.State, edge.To);
                Assert.True(newEvents == (now.State == row.State ? 0 : 1), $"{label}: {newEvents} events written");
                // A moved row is free for the next step, except one just claimed, which is this node's.
                Assert.Equal(method == nameof(RequestLifecycle.ClaimForSubmitAsync) ? Us : null, now.LeaseOwner);
            }

            await AssertCountersMatchTheRows(connectionString);
        });
    }

    [Fact]
    public async Task WhatAnEdgeWrites_BesidesTheState_IsWrittenWithIt()
    {
        await OnASeededDatabase(async (connectionString, contexts, rows) =>
        {
            var lifecycle = contexts.Lifecycle(Us);
            Seeded Row(RequestState state) => rows.Single(r => r.State == state && r.Holder == Holder.Us);

            // Completed: its outputs in order, queued for download when the node keeps outputs.
            Assert.True(await lifecycle.CompletedAsync(Row(RequestState.Running).Id, Now, 2.5m, ["https://x/a.png", "https://x/b.png"], true, "2", default));
            Assert.Equal(["0 https://x/a.png pending", "1 https://x/b.png pending"],
                await Strings(connectionString, $"select position || ' ' || url || ' ' || download_state from request_outputs where request_id = {Row(RequestState.Running).Id} order by position"));

            // A late result is flagged late and its credits are kept.
            Assert.True(await lifecycle.LateResultAsync(Row(RequestState.TimedOut).Id, Now, false, 1.5m, [], false, "failed upstream", default));
            Assert.Equal(["failed true 1.50 upstream_failed failed_late"], await Strings(connectionString, $"""
                select r.state || ' ' || r.completed_late || ' ' || r.credits_used || ' ' || r.error_kind || ' ' || e.reason
                from generation_requests r join request_events e on e.request_id = r.id where r.id = {Row(RequestState.TimedOut).Id}
                """));

            // A retry goes up as a fresh task under a new id, reopens its batch, and its event keeps the old task's credits.
            await Strings(connectionString, "update batches set finished_at = now(), summary = '{}' where name = 'edges'");
            var succeeded = Row(RequestState.Succeeded);
            var failed = rows.Single(r => r.State == RequestState.Failed && r.Holder == Holder.Nobody);
            Assert.Equal(1, await lifecycle.RetriedAsync([failed.Id, succeeded.Id], Now, default));
            Assert.Equal([$"queued {OutTaskIds.ForRetry(failed.OutTaskId, 1)} 1 0"], await Strings(connectionString,
                $"select state || ' ' || upstream_out_task_id || ' ' || retries || ' ' || attempts from generation_requests where id = {failed.Id}"));
            Assert.Equal(["open"], await Strings(connectionString, "select case when finished_at is null and summary is null then 'open' else 'finished' end from batches"));
            Assert.Equal([$"previous task {failed.OutTaskId} used no credits"],
                await Strings(connectionString, $"select detail from request_events where request_id = {failed.Id}"));

            // A second retry of the same row mints the next id; the id stays within the upstream's 64 characters.
            Assert.Equal("k-" + new string('a', 58) + "-r12", OutTaskIds.ForRetry("k-" + new string('a', 62), 12));
        });
    }

    [Fact]
    public async Task LeaseOperations_TouchOnlyTheRowsThisNodeHolds()
    {
        await OnASeededDatabase(async (connectionString, contexts, rows) =>
        {
            var lifecycle = contexts.Lifecycle(Us);
            var running = rows.Where(r => r.State == RequestState.Running).ToList();

            var held = await lifecycle.RenewAsync(running.Select(r => r.Id).ToList(), Now.AddMinutes(5), default);
            Assert.Equal([running.Single(r => r.Holder == Holder.Us).Id], held);

            var written = await lifecycle.ReschedulePollsAsync(running.Select(r => new PollReschedule(r.Id, RequestState.Running, Now.AddSeconds(4), Now)).ToList(), default);
            Assert.Equal(held, written);
            var holders = string.Join(",", running.Select(r => r.Id));
            Assert.Equal(["free", "node-b", "node-b", "free"], await Strings(connectionString,
                $"select coalesce(lease_owner, 'free') from generation_requests where id in ({holders}) order by id"));

            // A new request with an out_task_id already stored is not stored twice, even twice in one call.
            await using var db = await contexts.Factory.CreateDbContextAsync();
            var fresh = new NewRequest("nano-banana", new System.Text.Json.Nodes.JsonObject { ["prompt"] = "a dog" });
            var stored = await RequestLifecycle.InsertQueuedAsync(db, [(fresh, "new-1"), (fresh, "new-1"), (fresh, running[0].OutTaskId)], Now, default);
            Assert.Equal(["new-1"], stored.Keys);
        });
    }

    [Fact]
    public async Task TheLeaseSweep_SkipsALapsedRowAnotherStatementHasLocked_AndTakesItOnTheNextSweep()
    {
        await OnASeededDatabase(async (connectionString, contexts, rows) =>
        {
            var lifecycle = contexts.Lifecycle(Us);
            var lapsed = rows.Single(r => r.State == RequestState.Submitting && r.Holder == Holder.Expired);
            await using (await HoldRowLock(connectionString, lapsed.Id))
            {
                // A sweep that waited for the lock would never return while it is held; the bound only turns that into a failure.
                Assert.Equal(0, await lifecycle.LeaseExpiredAsync(Now, Now, default).WaitAsync(TimeSpan.FromSeconds(30)));
                Assert.Equal(["submitting"], await Strings(connectionString, $"select state from generation_requests where id = {lapsed.Id}"));
            }

            Assert.Equal(1, await lifecycle.LeaseExpiredAsync(Now, Now, default));
            Assert.Equal(["queued"], await Strings(connectionString, $"select state from generation_requests where id = {lapsed.Id}"));
            await AssertCountersMatchTheRows(connectionString);
        });
    }

    [Fact]
    public async Task CompletionsArrivingTogether_AreWrittenInOneStatement_AndEachCallerLearnsOfItsOwnRow()
    {
        await OnASeededDatabase(async (connectionString, contexts, rows) =>
        {
            var lifecycle = contexts.Lifecycle(Us);
            var ours = await AddRunningRowsOfOurs(connectionString, 40);
            Task<bool> Complete(long id) => lifecycle.CompletedAsync(id, Now, 1m, [$"https://x/{id}/a.png", $"https://x/{id}/b.png"], false, "2", default);

            // Every seeded row (any state, any holder) and ours arrive while the first completion's statement waits.
            var (first, rest) = await WhileTheFirstWaits(connectionString, ours[0], () => Complete(ours[0]),
                rows.Select(r => r.Id).Concat(ours.Skip(1)).Select(id => (Func<Task<bool>>)(() => Complete(id))));

            Assert.True(await first);
            var expected = rows.Select(r => r.State == RequestState.Running && r.Holder == Holder.Us).Concat(ours.Skip(1).Select(_ => true)).ToList();
            Assert.Equal(expected, await Task.WhenAll(rest));
            // The 39 that came together went in one transaction, each with its own outputs and its event.
            Assert.Equal(["1"], await Strings(connectionString,
                $"select count(distinct xmin::text) from generation_requests where id in ({string.Join(",", ours.Skip(1))})"));
            Assert.Equal(["0"], await Strings(connectionString, "select count(*) from request_outputs where url not like 'https://x/' || request_id || '/%'"));
            Assert.Equal([$"{(expected.Count(e => e) + 1) * 2}"], await Strings(connectionString, "select count(*) from request_outputs"));
            Assert.Equal([$"{expected.Count(e => e) + 1}"], await Strings(connectionString, "select count(*) from request_events where to_state = 'succeeded'"));
            await AssertCountersMatchTheRows(connectionString);
        });
    }

    [Fact]
    public async Task ARowTheDatabaseRefuses_InAGroupOfMoves_FailsOnlyItsOwnCaller()
    {
        await OnASeededDatabase(async (connectionString, contexts, rows) =>
        {
            var lifecycle = contexts.Lifecycle(Us);
            var ours = await AddRunningRowsOfOurs(connectionString, 10);
            var poisoned = ours[5];
            // 10^13 credits do not fit numeric(14, 2): the statement that carries it fails.
            Task<bool> Complete(long id) => lifecycle.CompletedAsync(id, Now, id == poisoned ? 10_000_000_000_000m : 1m, [], false, "0", default);

            var (first, rest) = await WhileTheFirstWaits(connectionString, ours[0], () => Complete(ours[0]),
                ours.Skip(1).Select(id => (Func<Task<bool>>)(() => Complete(id))));

            Assert.True(await first);
            foreach (var (id, moved) in ours.Skip(1).Zip(rest))
            {
                if (id == poisoned)
                {
                    Assert.Equal("22003", (await Assert.ThrowsAsync<PostgresException>(() => moved)).SqlState); // numeric_value_out_of_range
                }
                else
                {
                    Assert.True(await moved);
                }
            }

            Assert.Equal(["running"], await Strings(connectionString, $"select state from generation_requests where id = {poisoned}"));
            Assert.Equal(["9"], await Strings(connectionString, "select count(*) from generation_requests where out_task_id like 'ours-%' and state = 'succeeded'"));
            await AssertCountersMatchTheRows(connectionString);
        });
    }

    /// <summary>Running rows leased to this node, besides the seeded ones; their ids in order.</summary>
    private static async Task<List<long>> AddRunningRowsOfOurs(string connectionString, int count) =>
        (await Strings(connectionString, $$"""
            insert into generation_requests (out_task_id, model, params, state, due_at, lease_owner, lease_expires_at, attempts, submitted_at,
                                             deadline_at, created_at, updated_at)
            select 'ours-' || g, 'nano-banana', '{"prompt":"a cat"}', 'running', null, '{{Us}}', now() + interval '1 hour', 1, now(),
                   now() + interval '3 minutes', now(), now()
            from generate_series(1, {{count}}) g
            returning id
            """)).ConvertAll(long.Parse);

    /// <summary>
    /// Starts <paramref name="first"/> while another transaction holds its row, waits until its statement waits for that
    /// lock, then starts <paramref name="rest"/>, which gather behind it, and lets the first go on.
    /// </summary>
    private static async Task<(Task<bool> First, List<Task<bool>> Others)> WhileTheFirstWaits(string connectionString, long firstId, Func<Task<bool>> first,
        IEnumerable<Func<Task<bool>>> rest)
    {
        await using (await HoldRowLock(connectionString, firstId))
        {
            var firstTask = first();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await Strings(connectionString, "select count(*) from pg_locks where not granted"))[0] == "0")
            {
                Assert.True(DateTime.UtcNow < deadline, "the first statement never waited for the row's lock");
                await Task.Delay(20);
            }

            var restTasks = rest.Select(start => start()).ToList();
            return (firstTask, restTasks);
        }
    }

    /// <summary>Locks row <paramref name="id"/> in a transaction of its own; disposing the connection ends it and lets the row go.</summary>
    private static async Task<NpgsqlConnection> HoldRowLock(string connectionString, long id)
    {
        var holder = new NpgsqlConnection(connectionString);
        await holder.OpenAsync();
        await holder.BeginTransactionAsync();
        await using var lockRow = new NpgsqlCommand($"select id from generation_requests where id = {id} for update", holder);
        await lockRow.ExecuteNonQueryAsync();
        return holder;
    }

    /// <summary>Runs a test on a database of its own, seeded with a row in every state for every holder, dropped afterwards.</summary>
    private static async Task OnASeededDatabase(Func<string, Contexts, List<Seeded>, Task> test)
    {
        var connectionString = await TestPostgres.CreateMigratedDatabaseAsync("edge");
        try
        {
            await using var contexts = new Contexts(connectionString);
            await test(connectionString, contexts, await SeedEveryStateAndHolder(connectionString));
        }
        finally
        {
            await TestPostgres.DropDatabaseAsync(connectionString);
        }
    }

    private static async Task<List<string>> Strings(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetValue(0)?.ToString() ?? "");
        }

        return values;
    }

    private sealed class Contexts(string connectionString) : IAsyncDisposable
    {
        private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(connectionString);

        public IDbContextFactory<JobsDbContext> Factory => field ??= new PooledDbContextFactory<JobsDbContext>(
            new DbContextOptionsBuilder<JobsDbContext>().UseNpgsql(_dataSource).Options);

        public RequestLifecycle Lifecycle(string node) => new(Factory, Options.Create(new ClusterOptions { NodeId = node }));

        public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
    }

    public sealed record Seeded(long Id, string OutTaskId, RequestState State, Holder Holder, DateTimeOffset? DueAt, string? LeaseOwner);

    /// <summary>One row per state and holder, all due a second ago, in one batch.</summary>
    private static async Task<List<Seeded>> SeedEveryStateAndHolder(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var batch = new NpgsqlCommand("insert into batches (name, source) values ('edges', 'api')", connection))
        {
            await batch.ExecuteNonQueryAsync();
        }

        var seeded = new List<Seeded>();
        foreach (var state in Enum.GetValues<RequestState>())
        {
            foreach (var holder in Enum.GetValues<Holder>())
            {
                var (owner, expires) = holder switch
                {
                    Holder.Us => (Us, Now.AddMinutes(1)),
                    Holder.Them => (Them, Now.AddMinutes(1)),
                    Holder.Expired => (Them, Now.AddMinutes(-1)),
                    _ => ((string?)null, (DateTimeOffset?)null),
                };
                var outTaskId = $"edge-{state.ToStorage()}-{holder}".Replace('_', '-');
                await using var insert = new NpgsqlCommand("""
                    insert into generation_requests (out_task_id, batch_id, model, params, state, due_at, lease_owner, lease_expires_at, attempts,
                                                     submitted_at, deadline_at, completed_at, credits_used, created_at, updated_at)
                    values (@id, (select id from batches where name = 'edges'), 'nano-banana', '{"prompt":"a cat"}', @state, @due, @owner, @expires, 1,
                            @submitted, @deadline, @completed, @credits, @created, @created)
                    returning id
                    """, connection);
                var final = state is RequestState.Succeeded or RequestState.Failed or RequestState.TimedOut or RequestState.Cancelled;
                insert.Parameters.AddWithValue("id", outTaskId);
                insert.Parameters.AddWithValue("state", state.ToStorage());
                insert.Parameters.AddWithValue("due", Now.AddSeconds(-1));
                insert.Parameters.AddWithValue("owner", (object?)owner ?? DBNull.Value);
                insert.Parameters.Add(new NpgsqlParameter("expires", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)expires ?? DBNull.Value });
                insert.Parameters.Add(new NpgsqlParameter("submitted", NpgsqlTypes.NpgsqlDbType.TimestampTz)
                {
                    Value = state is RequestState.Queued or RequestState.Submitting ? DBNull.Value : Now.AddMinutes(-2),
                });
                insert.Parameters.Add(new NpgsqlParameter("deadline", NpgsqlTypes.NpgsqlDbType.TimestampTz)
                {
                    Value = state is RequestState.Queued or RequestState.Submitting ? DBNull.Value : Now.AddMinutes(1),
                });
                insert.Parameters.Add(new NpgsqlParameter("completed", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = final ? Now.AddMinutes(-1) : DBNull.Value });
                insert.Parameters.Add(new NpgsqlParameter("credits", NpgsqlTypes.NpgsqlDbType.Numeric) { Value = state == RequestState.Succeeded ? 2m : DBNull.Value });
                insert.Parameters.AddWithValue("created", Now.AddMinutes(-5));
                var id = (long)(await insert.ExecuteScalarAsync())!;
                seeded.Add(new Seeded(id, outTaskId, state, holder, Now.AddSeconds(-1), owner));
            }
        }

        return seeded;
    }

    private sealed record RowNow(long Id, RequestState State, DateTimeOffset? DueAt, string? LeaseOwner);

    private static async Task<List<RowNow>> ReadRows(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select id, state, due_at, lease_owner from generation_requests", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<RowNow>();
        while (await reader.ReadAsync())
        {
            rows.Add(new RowNow(reader.GetInt64(reader.GetOrdinal("id")), RequestStates.FromStorage(reader.GetString(reader.GetOrdinal("state"))),
                reader.IsDBNull(reader.GetOrdinal("due_at")) ? null : reader.GetFieldValue<DateTimeOffset>(reader.GetOrdinal("due_at")),
                reader.IsDBNull(reader.GetOrdinal("lease_owner")) ? null : reader.GetString(reader.GetOrdinal("lease_owner"))));
        }

        return rows;
    }

    private static async Task<Dictionary<long, long>> EventCounts(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select request_id, count(*) from request_events group by request_id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var counts = new Dictionary<long, long>();
        while (await reader.ReadAsync())
        {
            counts[reader.GetInt64(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>
    /// The counters the dashboard and the limits read (per state, per batch and state, completions per minute) agree with
    /// the rows themselves, and a batch's first submit and last completion hold its rows' (they only move outwards: a
    /// retry clears a row's times, not the batch's).
    /// </summary>
    private static async Task AssertCountersMatchTheRows(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            select 'state ' || coalesce(c.state, r.state) || ': counted ' || coalesce(c.n, 0) || ', rows ' || coalesce(r.n, 0)
            from (select state, sum(count) n from request_counts group by state having sum(count) <> 0) c
            full join (select state, count(*) n from generation_requests group by state) r on r.state = c.state
            where coalesce(c.n, 0) <> coalesce(r.n, 0)
            union all
            select 'batch state ' || coalesce(c.state, r.state) || ': counted ' || coalesce(c.n, 0) || ', rows ' || coalesce(r.n, 0)
            from (select state, sum(count) n from batch_counts group by state having sum(count) <> 0) c
            full join (select state, count(*) n from generation_requests where batch_id is not null group by state) r on r.state = c.state
            where coalesce(c.n, 0) <> coalesce(r.n, 0)
            union all
            select 'completions at ' || coalesce(c.minute, r.minute) || ': counted ' || coalesce(c.s, 0) || ' succeeded, ' || coalesce(c.f, 0)
                   || ' failed; rows ' || coalesce(r.s, 0) || ', ' || coalesce(r.f, 0)
            from (select minute, sum(succeeded) s, sum(failed) f from completion_counts group by minute having sum(succeeded) <> 0 or sum(failed) <> 0) c
            full join (select date_trunc('minute', completed_at) as minute, count(*) filter (where state = 'succeeded') s,
                              count(*) filter (where state in ('failed', 'timed_out')) f
                       from generation_requests where completed_at is not null and state in ('succeeded', 'failed', 'timed_out') group by 1) r
                on r.minute = c.minute
            where coalesce(c.s, 0) <> coalesce(r.s, 0) or coalesce(c.f, 0) <> coalesce(r.f, 0)
            union all
            select 'batch ' || r.batch_id || ': first submit counted ' || coalesce(c.first::text, 'none') || ', rows ' || coalesce(r.first::text, 'none')
                   || '; last completion counted ' || coalesce(c.last::text, 'none') || ', rows ' || coalesce(r.last::text, 'none')
            from (select batch_id, min(submitted_at) first, max(completed_at) last from generation_requests where batch_id is not null
                  group by batch_id) r
            left join (select batch_id, min(first_submitted_at) first, max(last_completed_at) last from batch_counts group by batch_id) c
                on c.batch_id = r.batch_id
            where (r.first is not null and (c.first is null or c.first > r.first))
               or (r.last is not null and (c.last is null or c.last < r.last))
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var mismatches = new List<string>();
        while (await reader.ReadAsync())
        {
            mismatches.Add(reader.GetString(0));
        }

        Assert.Empty(mismatches);
    }
}
