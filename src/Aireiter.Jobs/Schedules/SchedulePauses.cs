using Microsoft.Extensions.DependencyInjection;
using Aireiter.Jobs.Storage;
using Npgsql;

namespace Aireiter.Jobs.Schedules;

/// <summary>Which schedules an operator paused (table <c>schedule_pauses</c>): the record that outlives restarts.</summary>
public sealed class SchedulePauses([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource)
{
    public async Task<IReadOnlySet<string>> PausedAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select name from schedule_pauses");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    public async Task PauseAsync(string name, string by, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("insert into schedule_pauses (name, paused_by) values (@name, @by) on conflict do nothing");
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("by", by);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task ResumeAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("delete from schedule_pauses where name = @name");
        command.Parameters.AddWithValue("name", name);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
