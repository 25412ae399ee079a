using Aireiter.Jobs.Sample;

await using var app = SampleApp.Build(args);
await app.RunAsync();
