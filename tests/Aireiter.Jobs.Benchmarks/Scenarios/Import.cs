using Aireiter.Jobs.Testing;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Aireiter.Jobs.Benchmarks.Scenarios;

/// <summary>A CSV catalogue imported with the command line's enqueue verb: lines per second.</summary>
public static partial class Import
{
    public static async Task<Dictionary<string, double>> RunAsync(BenchDatabase db, int lines)
    {
        var file = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.csv");
        await using (var writer = new StreamWriter(file, false, new UTF8Encoding(false)))
        {
            await writer.WriteLineAsync("key,prompt,model,aspect_ratio,resolution,collection");
            string[] models = ["gpt_image_2", "seedream_v5_lite", "gpt_image_2_official"];
            for (var i = 0; i < lines; i++)
            {
                await writer.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"SKU-{i:D8},\"A product photo of item {i}, studio light\",{models[i % 3]},16:9,2K,c{i % 17}"));
            }
        }

        await using var run = await BenchWorker.StartAsync(new Dictionary<string, string> { ["ConnectionStrings:Jobs"] = db.ConnectionString },
            "enqueue", file, "--batch", "import-bench");
        await run.WaitForExitAsync(TimeSpan.FromMinutes(30));
        File.Delete(file);
        var took = Took().Match(string.Join('\n', run.Output));
        if (!took.Success)
        {
            throw new InvalidOperationException("enqueue printed no timing: " + string.Join('\n', run.Output));
        }

        return new()
        {
            ["lines"] = lines,
            ["seconds"] = double.Parse(took.Groups[1].Value, CultureInfo.InvariantCulture),
            ["lines_per_second"] = double.Parse(took.Groups[2].Value, CultureInfo.InvariantCulture),
        };
    }

    [GeneratedRegex(@"Took ([0-9.]+) s \(([0-9]+) lines/s\)")]
    private static partial Regex Took();
}
