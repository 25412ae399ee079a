namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>A migrated database of the test class's own, dropped when the class is done.</summary>
public sealed class DatabaseFixture : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync() => ConnectionString = await TestPostgres.CreateMigratedDatabaseAsync("class");

    public Task DisposeAsync() => TestPostgres.DropDatabaseAsync(ConnectionString);
}
