using Aireiter.Jobs.AspNetCore;
using Hangfire;
using Hangfire.PostgreSql;

namespace Aireiter.Jobs.Sample;

/// <summary>
/// A shop's app as it was (its Hangfire storage, server, dashboard and its own job), plus the two lines that add the
/// engine. The engine's settings live in their own section, <c>AireiterJobs</c>, so they never mix with the app's.
/// </summary>
public static class SampleApp
{
    public static WebApplication Build(string[] args, string? contentRoot = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot });

        // The app's own Hangfire, on its own database.
        builder.Services.AddHangfire(hangfire => hangfire
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UsePostgreSqlStorage(storage => storage.UseNpgsqlConnection(builder.Configuration.GetConnectionString("Hangfire"))));
        builder.Services.AddHangfireServer();

        // The engine: its loops, its jobs on the app's Hangfire server, its pages in the app's dashboard.
        builder.Services.AddAireiterJobs(builder.Configuration.GetSection("AireiterJobs"));

        var app = builder.Build();
        app.MapHangfireDashboard();
        app.MapAireiterJobs();

        // The app's own endpoint and recurring job, untouched by the engine.
        app.MapPost("/reminders/{customer}", (string customer, int? inDays, IBackgroundJobClient jobs) =>
        {
            var job = inDays is { } days
                ? jobs.Schedule<InvoiceReminders>(r => r.Send(customer), TimeSpan.FromDays(days))
                : jobs.Enqueue<InvoiceReminders>(r => r.Send(customer));
            return TypedResults.Accepted($"/hangfire/jobs/details/{job}", new { job });
        });
        app.Services.GetRequiredService<IRecurringJobManager>()
            .AddOrUpdate<InvoiceReminders>("invoice-reminders", r => r.Send("every customer with an open invoice"), Cron.Daily());
        return app;
    }
}

/// <summary>The app's own background job, there before the engine came.</summary>
public sealed partial class InvoiceReminders(ILogger<InvoiceReminders> logger)
{
    public void Send(string customer) => LogSent(customer);

    [LoggerMessage(Level = LogLevel.Information, Message = "Invoice reminder sent to {Customer}")]
    private partial void LogSent(string customer);
}
