using System.CommandLine;
using Aireiter.Jobs.Worker.Hosting;

namespace Aireiter.Jobs.Worker.Cli;

/// <summary>The verbs of <c>aireiter-jobs</c>. Unrecognised <c>--Key=Value</c> tokens become configuration overrides.</summary>
public static class CommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Aireiter.Jobs: a durable job orchestrator for the Aireiter image-generation API.");

        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. http://127.0.0.1:5080." };
        var serve = new Command("serve", "Run the worker: API, dashboard, submitter, poller and schedules.")
        {
            urls,
        };
        serve.TreatUnmatchedTokensAsErrors = false;
        serve.SetAction((parse, cancellationToken) =>
            JobsHost.ServeAsync(parse, parse.GetValue(urls), cancellationToken));
        root.Subcommands.Add(serve);

        var migrate = new Command("migrate", "Bring the database schema up to date and exit.");
        migrate.TreatUnmatchedTokensAsErrors = false;
        migrate.SetAction((parse, cancellationToken) => JobsHost.MigrateAsync(parse, cancellationToken));
        root.Subcommands.Add(migrate);

        root.Subcommands.Add(EnqueueCommand.Create());
        root.Subcommands.Add(BatchCommands.Status());
        root.Subcommands.Add(BatchCommands.Export());
        root.Subcommands.Add(BatchCommands.Retry());
        root.Subcommands.Add(BatchCommands.Cancel());
        return root;
    }
}
