using Aireiter.Jobs.Testing;

namespace Aireiter.Jobs.Benchmarks;

/// <summary>The worker as the tests start it (<see cref="WorkerProcess"/>), with warnings-only logs and, for <c>serve</c>, ready before the clock starts.</summary>
public static class BenchWorker
{
    public static async Task<WorkerProcess> StartAsync(IReadOnlyDictionary<string, string> settings, string verb = "serve", params string[] arguments)
    {
        var worker = WorkerProcess.Start(new Dictionary<string, string>(settings) { ["Serilog:MinimumLevel:Default"] = "Warning" }, verb, port: null,
            arguments);
        if (verb == "serve")
        {
            await worker.WaitUntilReadyAsync();
        }

        return worker;
    }
}
