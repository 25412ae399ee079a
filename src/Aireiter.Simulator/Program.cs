using Aireiter.Simulator;

// Standalone: dotnet run --project src/Aireiter.Simulator -- --urls http://127.0.0.1:5090 [--Simulator:FailureRate=0.1 …]
var app = SimulatorHost.Build(options: null, args);
app.Logger.LogWarning("Aireiter SIMULATOR: a fake upstream for tests and demos. No real images, no real credits.");
await app.RunAsync();
