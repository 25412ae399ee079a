using Aireiter.Jobs.Monitoring;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Tests.Infrastructure;
using Npgsql;

namespace Aireiter.Jobs.Tests.Monitoring;

/// <summary>The request list's filters and keyset pages, and a request's detail, against real PostgreSQL.</summary>
public sealed class RequestQueriesTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);

    private readonly NpgsqlDataSource _dataSource = JobsDatabase.CreateDataSource(database.ConnectionString);

    private RequestQueries Queries => new(JobsDbContext.CreateFactory(_dataSource));

    /// <summary>
    /// 30 requests, one an hour: every third failed, odd ones on gpt_image_2, the first 10 in batch "spring". Then five on
    /// 2026-10-01 whose creation times disagree with their id order, as two nodes' clocks can: w-1 … w-5 stamped 2, 4, 1,
    /// 3 and 4 hours into the day.
    /// </summary>
    public async Task InitializeAsync()
    {
        // Each test's instance runs this; the class's database is seeded once.
        await using var command = _dataSource.CreateCommand("""
            do $$
            begin
                if exists (select 1 from batches where name = 'spring') then
                    return;
                end if;
                insert into batches (name, source) values ('spring', 'api'), ('autumn', 'file');
                insert into generation_requests (out_task_id, batch_id, item_key, model, params, state, created_at, updated_at)
                select 'q-' || i, (select id from batches where name = case when i <= 10 then 'spring' else 'autumn' end),
                       'SKU-' || i, case when i % 2 = 1 then 'gpt_image_2' else 'nano_banana' end,
                       jsonb_build_object('prompt', case when i = 7 then 'a blue_cat at 100% size' else 'a bluexcat number ' || i end),
                       case when i % 3 = 0 then 'failed' else 'succeeded' end,
                       timestamptz '2026-11-30 00:00:00+00' + make_interval(hours => i), timestamptz '2026-11-30 00:00:00+00' + make_interval(hours => i)
                from generate_series(1, 30) i;
                insert into generation_requests (out_task_id, model, params, state, created_at, updated_at)
                select 'w-' || i, 'clock_skew', '{"prompt": "skewed"}', 'succeeded', t, t
                from unnest(array[2, 4, 1, 3, 4]) with ordinality as h(hour, i)
                cross join lateral (select timestamptz '2026-10-01 00:00:00+00' + make_interval(hours => h.hour) as t) s
                order by h.i;
                insert into request_events (request_id, at, from_state, to_state, reason, node)
                select id, created_at + interval '1 second', 'queued', 'submitting', 'claimed', 'node-a' from generation_requests where out_task_id = 'q-3';
                insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
                select id, created_at + interval '2 second', 'submitting', 'failed', 'invalid_request', 'bad size', 'node-a'
                from generation_requests where out_task_id = 'q-3';
            end
            $$
            """);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    private async Task<List<string>> Ids(RequestFilter filter, int limit = 50) =>
        (await Queries.ListAsync(filter, null, limit, default)).Items.Select(i => i.OutTaskId).ToList();

    private static List<string> Expected(params int[] numbers) => numbers.Select(n => $"q-{n}").ToList();

    [Fact]
    public async Task EveryFilter_NarrowsTheList_NewestFirst()
    {
        Assert.Equal(Expected(30, 27, 24, 21, 18, 15, 12, 9, 6, 3), await Ids(new RequestFilter { State = "failed" }));
        Assert.Equal(Expected(10, 8, 6, 4, 2), await Ids(new RequestFilter { Batch = "spring", Model = "nano_banana" }));
        Assert.Empty(await Ids(new RequestFilter { Batch = "no-such-batch" }));
        Assert.Equal(Expected(6, 5), await Ids(new RequestFilter { From = Start.AddHours(5), To = Start.AddHours(7) }));
        Assert.Equal(Expected(12), await Ids(new RequestFilter { Text = " q-12 " }));
        Assert.Equal(Expected(13), await Ids(new RequestFilter { Text = "SKU-13" }));
        // The prompt's words are matched literally: '_' and '%' are not wildcards.
        Assert.Equal(Expected(7), await Ids(new RequestFilter { Prompt = "BLUE_CAT at 100%" }));
        Assert.Equal(Expected(19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1), await Ids(new RequestFilter { Prompt = "CAT NUMBER 1" }));
        Assert.Equal(Expected(13, 11, 1), await Ids(new RequestFilter { Prompt = "number 1", Model = "gpt_image_2", To = Start.AddHours(14) }));
        Assert.Equal(Expected(9, 3), await Ids(new RequestFilter { State = "failed", Model = "gpt_image_2", To = Start.AddHours(10) }));
    }

    [Fact]
    public async Task KeysetPages_CoverEveryRowOnce_InOrder_AndTheLastHasNoNext()
    {
        var seen = new List<string>();
        long? before = null;
        do
        {
            var page = await Queries.ListAsync(new RequestFilter(), before, 7, default);
            Assert.True(page.Items.Count <= 7);
            seen.AddRange(page.Items.Select(i => i.OutTaskId));
            before = page.Next;
        }
        while (before is not null);

        Assert.Equal(Enumerable.Range(1, 5).Reverse().Select(n => $"w-{n}").Concat(Enumerable.Range(1, 30).Reverse().Select(n => $"q-{n}")), seen);
    }

    [Fact]
    public async Task WindowPages_FollowCreationTime_WhereIdsDisagree_AndCoverEveryRowOnce()
    {
        var window = new RequestFilter { From = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero), To = Start };
        var pages = new List<List<string>>();
        long? before = null;
        do
        {
            var page = await Queries.ListAsync(window, before, 2, default);
            pages.Add(page.Items.Select(i => i.OutTaskId).ToList());
            before = page.Next;
        }
        while (before is not null);

        // Newest first by creation time; w-2 and w-5 share theirs, and the newer id comes first.
        Assert.Equal([["w-5", "w-2"], ["w-4", "w-1"], ["w-3"]], pages);
        Assert.Equal(Expected(30, 29), await Ids(new RequestFilter { From = Start.AddHours(29) }));
    }

    [Fact]
    public async Task TheDetail_HasTheBatch_ThePrompt_AndTheTimelineInOrder()
    {
        var detail = await Queries.DetailAsync("q-3", default);
        Assert.NotNull(detail);
        Assert.Equal(("spring", "a bluexcat number 3", "failed"), (detail.Request.Batch, detail.Request.Prompt, detail.Request.State));
        Assert.Equal(["enqueued", "claimed", "invalid_request"], detail.Events.Select(e => e.Reason));
        Assert.Equal([null, "queued", "submitting"], detail.Events.Select(e => e.From));
        Assert.Null(await Queries.DetailAsync("q-404", default));
    }
}
