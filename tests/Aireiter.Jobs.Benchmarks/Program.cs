using System.Globalization;
using System.Text.Json;
using Aireiter.Jobs.Benchmarks;
using Aireiter.Jobs.Benchmarks.Scenarios;

// dotnet run -c Release --project tests/Aireiter.Jobs.Benchmarks -- [scenario…] [--smoke] [--requests N] [--rows N]
// Scenarios: throughput nodes door pgbench hangfire hangfire-per-request punctuality idle import dashboard (all by default). Sets up its own PostgreSQL
// (or AIREITER_BENCH_POSTGRES) and simulator, measures on one database, prints Markdown and writes bench-results.json.
var smoke = args.Contains("--smoke");
int Option(string name, int full, int small)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : smoke ? small : full;
}

var requests = Option("--requests", 20_000, 300);
var rows = Option("--rows", 1_000_000, 20_000);
var failures = Option("--failures", 10_000, 200);
var idleSeconds = Option("--idle-seconds", 60, 5);
var importLines = Option("--import-lines", 100_000, 2_000);
var pgbenchSeconds = Option("--pgbench-seconds", 20, 3);
var hangfireJobs = Option("--hangfire-jobs", requests, 200);
var perRequestJobs = Option("--per-request-jobs", 2_000, 50);
var inFlight = Option("--in-flight", 10_000, 300);
var punctualitySeconds = Option("--punctuality-seconds", 180, 10);
string[] all = ["throughput", "nodes", "door", "pgbench", "hangfire", "hangfire-per-request", "punctuality", "idle", "import", "dashboard"];
var chosen = args.Where(a => all.Contains(a)).ToList();
if (chosen.Count == 0)
{
    chosen = [.. all];
}

Console.WriteLine($"Aireiter.Jobs benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, " +
                  $"{Environment.OSVersion}, .NET {Environment.Version}{(smoke ? " (smoke size: figures mean nothing)" : "")}");
var results = new Dictionary<string, Dictionary<string, double>>();
await using (var db = await BenchDatabase.StartAsync())
{
    if (chosen.Contains("throughput")) results["throughput"] = await Throughput.RunAsync(db, requests);
    if (chosen.Contains("nodes"))
    {
        // The same run on 1, 2 and 4 worker processes sharing the database.
        foreach (var nodes in new[] { 1, 2, 4 })
        {
            results[$"nodes-{nodes}"] = await Throughput.RunAsync(db, requests, nodes);
        }
    }

    if (chosen.Contains("door")) results["door"] = await Door.RunAsync(db);
    if (chosen.Contains("pgbench")) results["pgbench"] = await Pgbench.RunAsync(db, Math.Max(requests, 1000), clients: 16, pgbenchSeconds);
    if (chosen.Contains("hangfire")) results["hangfire"] = await HangfireJobs.RunAsync(db, hangfireJobs);
    if (chosen.Contains("hangfire-per-request")) results["hangfire-per-request"] = await HangfirePerRequest.RunAsync(db, perRequestJobs);
    if (chosen.Contains("punctuality")) results["punctuality"] = await Punctuality.RunAsync(db, inFlight, punctualitySeconds, smoke);
    if (chosen.Contains("idle")) results["idle"] = await Idle.RunAsync(db, idleSeconds);
    if (chosen.Contains("import")) results["import"] = await Import.RunAsync(db, importLines);
    if (chosen.Contains("dashboard")) results["dashboard"] = await Dashboard.RunAsync(db, rows, failures);
}

Console.WriteLine();
Console.WriteLine("| Scenario | Measure | Value |");
Console.WriteLine("|---|---|---:|");
foreach (var (scenario, measures) in results.Where(r => r.Key != "dashboard"))
{
    foreach (var (measure, value) in measures)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {scenario} | {measure.Replace('_', ' ')} | {value:#,0.##} |"));
    }
}

if (results.TryGetValue("throughput", out var t) && results.TryGetValue("pgbench", out var p))
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| ratio | transitions/s ÷ pgbench TPS | {t["transitions_per_second"] / p["tps"]:0.00} |"));
}

if (results.TryGetValue("throughput", out var t2) && results.TryGetValue("hangfire", out var h))
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| ratio | requests/s ÷ Hangfire no-op jobs/s | {t2["requests_per_second"] / h["jobs_per_second"]:0.00} |"));
}

await File.WriteAllTextAsync("bench-results.json", JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine();
Console.WriteLine($"Written: {Path.GetFullPath("bench-results.json")}");
