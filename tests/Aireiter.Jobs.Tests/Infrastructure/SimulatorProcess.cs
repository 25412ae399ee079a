using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aireiter.Simulator;

namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>
/// The simulator in a process of its own, for tests that judge when calls reach the upstream. In this
/// process it shares the heap and thread pool of a test run that has already done everything else, and a
/// pause of the observer makes calls that left 50 ms apart look as if they arrived together.
/// </summary>
public sealed class SimulatorProcess : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };
    private readonly Process _process;
    private readonly HttpClient _http;

    private SimulatorProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri BaseAddress { get; }

    public static async Task<SimulatorProcess> StartAsync(SimulatorOptions options)
    {
        var port = FreePort.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Aireiter.Simulator.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var simulator = new SimulatorProcess(process, new Uri($"http://127.0.0.1:{port}"));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await simulator.SetOptionsAsync(options);
                return simulator;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Replaces the simulator's switches while it runs.</summary>
    public async Task SetOptionsAsync(SimulatorOptions options)
    {
        using var response = await _http.PostAsJsonAsync("/_sim/options", options, Json);
        response.EnsureSuccessStatusCode();
    }

    public async Task<SimulatorStats> StatsAsync() => (await _http.GetFromJsonAsync<SimulatorStats>("/_sim/stats", Json))!;

    public async Task ResetAsync()
    {
        using var response = await _http.PostAsync("/_sim/reset", null);
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
