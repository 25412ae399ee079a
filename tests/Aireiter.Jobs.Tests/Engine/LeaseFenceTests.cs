using Aireiter.Jobs.Requests;

namespace Aireiter.Jobs.Tests.Engine;

/// <summary>
/// A node whose lease ran out while it waited must not send: another node may have taken the request by then, asked
/// the upstream, heard "not found" and submitted it itself.
/// </summary>
public sealed class LeaseFenceTests
{
    [Fact]
    public async Task Submit_IsNotSent_WhenTheNodesLeaseRanOutWhileItWaited_AndTheRequestIsSubmittedOnceLater()
    {
        var simulator = EngineHarness.FastSimulator();
        // Every call takes 4 s (within the attempt's time-out): the question asked before a retried submit outlasts the
        // 1 s lease several times over.
        simulator.Faults.Latency = TimeSpan.FromSeconds(4);
        await using var harness = await EngineHarness.StartAsync("fence", simulator,
            ("Engine:LeaseDuration", "00:00:01"), ("Aireiter:AttemptTimeout", "00:00:10"));
        var outTaskId = (await harness.EnqueueAsync(1, "fenced"))[0].OutTaskId!;
        // As if an earlier submit's answer was lost: the next claim asks the upstream by out_task_id before it sends.
        await harness.ScalarAsync("update generation_requests set attempts = 1 returning attempts");
        var worker = await harness.StartWorkerAsync();
        await harness.WaitUntilAsync(async () => await harness.ScalarAsync("select count(*) from generation_requests where state = 'submitting'") == 1,
            TimeSpan.FromSeconds(30), "the request claimed");

        await using (var connection = await harness.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            // Hold the row, as a long statement elsewhere would: the node's renewals wait on it, and its lease runs out
            // while the question is still on its way back.
            await using (var hold = new Npgsql.NpgsqlCommand("select id from generation_requests for update", connection, transaction))
            {
                await hold.ExecuteScalarAsync();
            }

            await worker.WaitForLineAsync($"Not sending {outTaskId}", TimeSpan.FromSeconds(30));
            Assert.Equal(0, harness.Simulator.Upstream.Stats().SubmitCalls);
            simulator.Faults.Latency = TimeSpan.Zero;
            await transaction.RollbackAsync();
        }

        await harness.WaitUntilAllFinalAsync(TimeSpan.FromSeconds(60));
        var request = (await harness.ReadAsync())[outTaskId];
        Assert.Equal(RequestState.Succeeded, request.State);
        var stats = harness.Simulator.Upstream.Stats();
        Assert.Equal(1, stats.SubmitCalls);
        Assert.Equal(1, stats.TasksBilledPerOutTaskId[outTaskId]);
    }
}
