using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>The database's own limit: pgbench doing single-row updates by primary key on a table of the same size.</summary>
public static partial class Pgbench
{
    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int rows, int clients, int seconds)
    {
        await db.ExecuteAsync($"""
            drop table if exists bench_target;
            create table bench_target (id integer primary key, n integer not null default 0, filler text);
            insert into bench_target (id, filler) select i, repeat('x', 200) from generate_series(1, {rows}) i;
            analyze bench_target;
            """);
        var script = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(script, $"\\set id random(1, {rows})\nupdate bench_target set n = n + 1 where id = :id;\n");
        var parts = db.Parts;
        var bin = Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin", "pgbench")).FirstOrDefault(File.Exists)
                  ?? "pgbench";
        var start = new ProcessStartInfo(bin) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-n", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2", "-T", seconds.ToString(CultureInfo.InvariantCulture),
                     "-f", script, "-h", parts.Host!, "-p", parts.Port.ToString(CultureInfo.InvariantCulture), "-U", parts.Username!, parts.Database! })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["PGPASSWORD"] = parts.Password;
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        File.Delete(script);
        await db.ExecuteAsync("drop table bench_target");
        var tps = Tps().Match(output);
        if (!tps.Success)
        {
            throw new InvalidOperationException($"pgbench failed: {output}\n{error}");
        }

        return new() { ["clients"] = clients, ["seconds"] = seconds, ["tps"] = double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture) };
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex Tps();
}
