using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Aireiter.Jobs.Storage;

/// <summary>
/// For <c>dotnet ef dbcontext optimize</c> only (it regenerates <c>Storage/CompiledModel</c>): a context that never
/// connects. The product builds its contexts through <see cref="JobsDbContext.Configure"/>.
/// </summary>
internal sealed class DesignTimeContextFactory : IDesignTimeDbContextFactory<JobsDbContext>
{
    public JobsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<JobsDbContext>().UseNpgsql("Host=localhost").Options);
}
