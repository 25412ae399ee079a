using Aireiter.Jobs.Storage;
using Aireiter.Jobs.Storage.CompiledModel;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata.Conventions;

namespace Aireiter.Jobs.Tests.Schema;

/// <summary>The product runs on the compiled model; it must be what <see cref="JobsDbContext.Map"/> says today.</summary>
public sealed class CompiledModelTests
{
    [Fact]
    public void TheCompiledModel_MapsWhatTheMappingCodeMaps()
    {
        var builder = NpgsqlConventionSetBuilder.CreateModelBuilder();
        JobsDbContext.Map(builder);
        var built = Describe((IModel)builder.FinalizeModel());

        using var context = new JobsDbContext(new DbContextOptionsBuilder<JobsDbContext>().UseNpgsql("Host=localhost").Options);
        Assert.IsType<JobsDbContextModel>(context.Model); // the compiled one is what a context uses
        var compiled = Describe(context.Model);

        Assert.True(built.Count > 40, $"only {built.Count} properties described");
        Assert.Equal(built, compiled);
    }

    /// <summary>Every property: its table and column, type, nullability, key and conversion, one line each.</summary>
    private static List<string> Describe(IModel model) =>
    [
        .. model.GetEntityTypes().SelectMany(entity => entity.GetProperties().Select(p =>
                $"{entity.ClrType.Name}.{p.Name} -> {entity.GetTableName()}.{p.GetColumnName()} {p.ClrType.Name} " +
                $"nullable={p.IsNullable} key={p.IsPrimaryKey()} converted={p.GetValueConverter() is not null} " +
                $"generated={p.ValueGenerated}"))
            .Order(StringComparer.Ordinal),
    ];
}
