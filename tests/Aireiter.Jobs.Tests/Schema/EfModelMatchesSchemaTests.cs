using System.Text.Json;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Aireiter.Jobs.Tests.Schema;

/// <summary>The SQL files own the schema and EF only maps onto it: this is where the two must agree.</summary>
public sealed class EfModelMatchesSchemaTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task EveryMappedColumn_ExistsInTheMigratedSchema_WithTheSameTypeAndNullability()
    {
        var columns = await ReadColumns();
        await using var context = NewContext();

        var problems = new List<string>();
        var mapped = 0;
        foreach (var entity in context.Model.GetEntityTypes())
        {
            var table = entity.GetTableName()!;
            foreach (var property in entity.GetProperties())
            {
                mapped++;
                var column = property.GetColumnName();
                if (!columns.TryGetValue((table, column), out var actual))
                {
                    problems.Add($"{table}.{column} is mapped by {entity.ClrType.Name}.{property.Name} but does not exist");
                    continue;
                }

                var expectedType = property.GetColumnType();
                if (!string.Equals(expectedType, actual.Type, StringComparison.Ordinal))
                {
                    problems.Add($"{table}.{column}: EF maps {expectedType}, the schema has {actual.Type}");
                }

                if (property.IsNullable != actual.Nullable)
                {
                    problems.Add($"{table}.{column}: EF says nullable={property.IsNullable}, the schema says nullable={actual.Nullable}");
                }
            }
        }

        Assert.True(mapped > 40, $"only {mapped} properties were compared");
        Assert.Empty(problems);
    }

    [Fact]
    public async Task AnUnmappedColumnInATable_EfUses_IsReported()
    {
        // The check above only proves what EF maps exists. This proves the reverse for our tables:
        // a NOT NULL column without a default that EF does not know would make every insert fail.
        var columns = await ReadColumns();
        await using var context = NewContext();
        var mapped = context.Model.GetEntityTypes()
            .SelectMany(e => e.GetProperties().Select(p => (e.GetTableName()!, p.GetColumnName())))
            .ToHashSet();
        var tables = mapped.Select(m => m.Item1).ToHashSet();

        var unknown = columns.Where(c => tables.Contains(c.Key.Table) && !mapped.Contains(c.Key)).Select(c => $"{c.Key.Table}.{c.Key.Column}");

        Assert.Empty(unknown);
    }

    [Fact]
    public async Task ARequestWithItsOutputsAndEvents_RoundTripsThroughEf()
    {
        await using (var context = NewContext())
        {
            var batch = new Batch { Name = $"round-trip-{Guid.NewGuid():N}", Source = "file" };
            context.Batches.Add(batch);
            await context.SaveChangesAsync();

            var request = new GenerationRequest
            {
                OutTaskId = "rt-0001",
                BatchId = batch.Id,
                ItemKey = "SKU-1",
                Model = "gpt_image_2",
                Params = JsonDocument.Parse("""{"prompt":"a red chair","aspect_ratio":"1:1"}"""),
                State = RequestState.TimedOut,
                EstimatedCredits = 12.5m,
                CreatedAt = DateTimeOffset.UtcNow,
                UpdatedAt = DateTimeOffset.UtcNow,
            };
            request.Outputs.Add(new RequestOutput { Url = "http://127.0.0.1/a.png", Position = 0 });
            request.Events.Add(new RequestEvent { FromState = RequestState.Running, ToState = RequestState.TimedOut, Reason = "deadline", At = DateTimeOffset.UtcNow });
            context.Requests.Add(request);
            await context.SaveChangesAsync();
        }

        await using (var context = NewContext())
        {
            var loaded = await context.Requests.Include(r => r.Outputs).Include(r => r.Events).SingleAsync(r => r.OutTaskId == "rt-0001");
            Assert.Equal(RequestState.TimedOut, loaded.State);
            Assert.Equal("a red chair", loaded.Params.RootElement.GetProperty("prompt").GetString());
            Assert.Equal(12.5m, loaded.EstimatedCredits);
            Assert.Equal("http://127.0.0.1/a.png", Assert.Single(loaded.Outputs).Url);
            var history = Assert.Single(loaded.Events);
            Assert.Equal(RequestState.Running, history.FromState);
            Assert.Equal("timed_out", await Scalar("select state from generation_requests where out_task_id = 'rt-0001'"));
        }
    }

    [Fact]
    public async Task TheSchema_RejectsAnOutTaskIdTheUpstreamWouldNotAccept()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(
            "insert into generation_requests (out_task_id, model, params, state) values ('has space', 'm', '{}', 'queued') returning id::text"));

        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
    }

    private JobsDbContext NewContext() =>
        new(new DbContextOptionsBuilder<JobsDbContext>().UseNpgsql(database.ConnectionString).Options);

    private async Task<Dictionary<(string Table, string Column), (string Type, bool Nullable)>> ReadColumns()
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull
            from pg_attribute a
            join pg_class c on c.oid = a.attrelid
            join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'public' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var columns = new Dictionary<(string, string), (string, bool)>();
        while (await reader.ReadAsync())
        {
            columns[(reader.GetString(0), reader.GetString(1))] = (reader.GetString(2), reader.GetBoolean(3));
        }

        return columns;
    }

    private async Task<string?> Scalar(string sql)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (string?)await command.ExecuteScalarAsync();
    }
}
