using Npgsql;

namespace Aireiter.Jobs.Requests;

/// <summary>
/// What an operator does to requests, for one request or a whole batch: retry and cancel. The command line,
/// the API and the dashboard all act through here, so the rules are the same wherever the click comes from.
/// </summary>
public sealed class OperatorActions(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>One failed or timed-out request back to the queue. False when it is in another state.</summary>
    public async Task<bool> RetryRequestAsync(string outTaskId, CancellationToken cancellationToken) =>
        await Retry("out_task_id = @target and state in ('failed', 'timed_out')", outTaskId, null, cancellationToken) == 1;

    /// <summary>A batch's requests in <paramref name="states"/> (failed, timed_out) back to the queue.</summary>
    public Task<int> RetryBatchAsync(long batchId, IReadOnlyCollection<string> states, CancellationToken cancellationToken) =>
        Retry("batch_id = @target and state = any(@states)", batchId, Retryable(states), cancellationToken);

    /// <summary>Every request in <paramref name="states"/> (failed, timed_out) back to the queue: the bulk retry of the failures view.</summary>
    public Task<int> RetryAllAsync(IReadOnlyCollection<string> states, CancellationToken cancellationToken) =>
        Retry("state = any(@states) and @target", true, Retryable(states), cancellationToken);

    private static string[] Retryable(IReadOnlyCollection<string> states) => states.Where(s => s is "failed" or "timed_out").ToArray();

    /// <summary>One queued or running request cancelled. False when it is in another state or being worked right now.</summary>
    public async Task<bool> CancelRequestAsync(string outTaskId, CancellationToken cancellationToken)
    {
        var (queued, running) = await Cancel("out_task_id = @target", outTaskId, cancellationToken);
        return queued + running == 1;
    }

    /// <summary>
    /// A batch cancelled: queued requests are never sent; running ones stop being polled (the upstream has no
    /// cancel, so they may still be billed). Requests being submitted this very moment are left to finish.
    /// </summary>
    public Task<(int Queued, int Running)> CancelBatchAsync(long batchId, CancellationToken cancellationToken) =>
        Cancel("batch_id = @target", batchId, cancellationToken);

    /// <summary>
    /// A retried request gets a fresh upstream task: its old out_task_id may be known (and billed) upstream, so
    /// the retry goes up as "{out_task_id}-r{n}". The old task's credits are kept in the event's detail.
    /// </summary>
    private async Task<int> Retry(string target, object value, string[]? states, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            with target as (
                select id, state, credits_used, coalesce(upstream_out_task_id, out_task_id) as upstream_id
                from generation_requests where {target} for update
            ), retried as (
                update generation_requests r
                set state = 'queued', retries = r.retries + 1, attempts = 0, polls = 0, due_at = @now, updated_at = @now,
                    upstream_out_task_id = left(r.out_task_id, 58) || '-r' || (r.retries + 1),
                    upstream_task_id = null, estimated_credits = null, credits_used = null, error_kind = null, error_message = null,
                    submitted_at = null, deadline_at = null, completed_at = null, reconcile_until = null, completed_late = false,
                    lease_owner = null, lease_expires_at = null
                from target t where r.id = t.id
                returning r.id, r.batch_id, t.state as before, t.credits_used as previous_credits, t.upstream_id as previous_task
            ), outputs as (
                delete from request_outputs where request_id in (select id from retried)
            ), events as (
                insert into request_events (request_id, at, from_state, to_state, reason, detail, node)
                select id, @now, before, 'queued', 'retried',
                       'previous task ' || previous_task || ' used ' || coalesce(previous_credits::text, 'no') || ' credits', 'operator'
                from retried
            ), reopened as (
                update batches set finished_at = null, summary = null where id in (select batch_id from retried)
            )
            select count(*) from retried
            """);
        command.Parameters.AddWithValue("target", value);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        if (states is not null)
        {
            command.Parameters.AddWithValue("states", states);
        }

        return (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task<(int Queued, int Running)> Cancel(string target, object value, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            with target as (
                select id, state from generation_requests
                where {target} and state in ('queued', 'running') and lease_owner is null
                for update
            ), cancelled as (
                update generation_requests r
                set state = 'cancelled', due_at = null, updated_at = @now, completed_at = @now,
                    error_kind = 'cancelled', error_message = 'Cancelled by an operator.'
                from target t
                where r.id = t.id
                returning r.id, t.state as before
            ), events as (
                insert into request_events (request_id, at, from_state, to_state, reason, node)
                select id, @now, before, 'cancelled', 'cancelled', 'operator' from cancelled
            )
            select count(*) filter (where before = 'queued'), count(*) filter (where before = 'running') from cancelled
            """);
        command.Parameters.AddWithValue("target", value);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return ((int)reader.GetInt64(0), (int)reader.GetInt64(1));
    }
}
