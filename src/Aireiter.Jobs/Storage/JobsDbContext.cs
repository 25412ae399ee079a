using System.Text;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Submitting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;

namespace Aireiter.Jobs.Storage;

/// <summary>
/// EF Core's view of the tables that <c>migrations/*.sql</c> create. The SQL files own the schema;
/// this model only maps onto it (a test checks the two agree), so it never creates or alters tables.
/// </summary>
public sealed class JobsDbContext(DbContextOptions<JobsDbContext> options) : DbContext(options)
{
    public DbSet<GenerationRequest> Requests => Set<GenerationRequest>();
    public DbSet<RequestOutput> Outputs => Set<RequestOutput>();
    public DbSet<RequestEvent> Events => Set<RequestEvent>();
    public DbSet<Batch> Batches => Set<Batch>();
    public DbSet<SubmitPause> SubmitPauses => Set<SubmitPause>();
    public DbSet<ClusterNode> ClusterNodes => Set<ClusterNode>();

    /// <summary>The options every context of the product uses: the node's data source, nothing tracked (writes are statements).</summary>
    /// <remarks>
    /// No execution strategy: EF neither retries a statement (every write here is a conditional move whose caller decides
    /// what a failure means) nor wraps a lost connection in its own exception, so the loops' handlers see Npgsql's
    /// exceptions as they always did and keep running through a database outage. No thread-safety checks: every
    /// operation rents a context of its own from the pool and returns it, so none is ever shared between threads, and
    /// the check is a cost on every statement of the hot paths.
    /// </remarks>
    public static DbContextOptionsBuilder Configure(DbContextOptionsBuilder options, NpgsqlDataSource dataSource) => options
        .UseNpgsql(dataSource, npgsql => npgsql.ExecutionStrategy(dependencies => new NonRetryingExecutionStrategy(dependencies)))
        .UseQueryTrackingBehavior(QueryTrackingBehavior.NoTracking)
        .EnableThreadSafetyChecks(false);

    /// <summary>A pooled factory over <paramref name="dataSource"/>, as dependency injection registers it, for tools and tests.</summary>
    public static IDbContextFactory<JobsDbContext> CreateFactory(NpgsqlDataSource dataSource) =>
        new Microsoft.EntityFrameworkCore.Infrastructure.PooledDbContextFactory<JobsDbContext>(
            ((DbContextOptionsBuilder<JobsDbContext>)Configure(new DbContextOptionsBuilder<JobsDbContext>(), dataSource)).Options);

    protected override void OnModelCreating(ModelBuilder modelBuilder) => Map(modelBuilder);

    /// <summary>
    /// The mapping. At run time EF does not run it: it loads the model compiled from it (<c>Storage/CompiledModel</c>,
    /// found by its assembly attribute), which cut building the model at start-up from 0.70 s of CPU to 0.27 s. After a
    /// change here, regenerate it (README, "How it is built"); a test fails while the two differ.
    /// </summary>
    internal static void Map(ModelBuilder modelBuilder)
    {
        var state = new ValueConverter<RequestState, string>(s => s.ToStorage(), s => RequestStates.FromStorage(s));

        modelBuilder.Entity<GenerationRequest>(e =>
        {
            e.ToTable("generation_requests");
            e.Property(r => r.Id).UseIdentityAlwaysColumn();
            e.Property(r => r.State).HasConversion(state);
            e.Property(r => r.Params).HasColumnType("jsonb");
            e.Property(r => r.Metadata).HasColumnType("jsonb");
            e.Property(r => r.EstimatedCredits).HasPrecision(14, 2);
            e.Property(r => r.CreditsUsed).HasPrecision(14, 2);
            e.HasIndex(r => r.OutTaskId).IsUnique();
            e.Ignore(r => r.SentOutTaskId);
            e.HasMany(r => r.Outputs).WithOne().HasForeignKey(o => o.RequestId);
            e.HasMany(r => r.Events).WithOne().HasForeignKey(ev => ev.RequestId);
        });

        modelBuilder.Entity<RequestOutput>(e =>
        {
            e.ToTable("request_outputs");
            e.HasKey(o => new { o.RequestId, o.Position });
        });

        modelBuilder.Entity<RequestEvent>(e =>
        {
            e.ToTable("request_events");
            e.Property(ev => ev.Id).UseIdentityAlwaysColumn();
            e.Property(ev => ev.FromState).HasConversion(state);
            e.Property(ev => ev.ToState).HasConversion(state);
        });

        modelBuilder.Entity<Batch>(e =>
        {
            e.ToTable("batches");
            e.Property(b => b.Id).UseIdentityAlwaysColumn();
            e.Property(b => b.Summary).HasColumnType("jsonb");
            e.Property(b => b.CreditBudget).HasPrecision(14, 2);
        });

        modelBuilder.Entity<SubmitPause>(e =>
        {
            e.ToTable("submit_pauses");
            e.HasKey(p => p.Reason);
        });

        modelBuilder.Entity<ClusterNode>(e =>
        {
            e.ToTable("cluster_nodes");
            e.HasKey(n => n.NodeId);
            e.Ignore(n => n.Alive);
            e.Ignore(n => n.PollLateness);
        });

        // The SQL names everything in snake_case; map every property the same way rather than by hand.
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(ToSnakeCase(property.Name));
            }
        }
    }

    internal static string ToSnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0)
                {
                    text.Append('_');
                }

                text.Append(char.ToLowerInvariant(c));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }
}
