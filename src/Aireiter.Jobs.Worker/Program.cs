using Aireiter.Jobs.Worker.Cli;

// One executable, several verbs: `serve` runs everything, the others are short-lived tools.
return await CommandLine.Build().Parse(args).InvokeAsync();
