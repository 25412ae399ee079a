using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Aireiter.Jobs.Testing;

/// <summary>
/// The real worker executable in a process of its own, for what only a process shows: start-up, exit codes, two
/// nodes at once, crashes, and (for the benchmarks) its CPU time and peak memory.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private WorkerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }
    public Uri BaseAddress { get; }
    public IReadOnlyList<string> Output => _output.ToArray();

    /// <summary>Runs a short-lived verb to its end: exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string> settings, string verb, params string[] arguments)
    {
        await using var process = Start(settings, verb, port: null, arguments);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(90));
        return (code, string.Join('\n', process.Output));
    }
    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>aireiter-jobs VERB</c> with the given settings as environment variables (<c>Section__Key</c>).</summary>
    public static WorkerProcess Start(IReadOnlyDictionary<string, string> settings, string verb = "serve", int? port = null,
        params string[] arguments)
    {
        var listen = port ?? FreePort.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "aireiter-jobs.dll"));
        start.ArgumentList.Add(verb);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (verb == "serve")
        {
            start.ArgumentList.Add("--urls");
            start.ArgumentList.Add($"http://127.0.0.1:{listen}");
        }

        // The test run's own environment must not leak a database or key into the worker.
        foreach (var inherited in new[] { "ConnectionStrings__Jobs", "Aireiter__ApiKey", "Aireiter__BaseUrl", "ASPNETCORE_URLS", "DOTNET_URLS" })
        {
            start.Environment.Remove(inherited);
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(start)!;
        var worker = new WorkerProcess(process, listen);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) worker._output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) worker._output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>Waits until <c>/health/ready</c> says Healthy; fails with the worker's output if it exits or times out.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The worker exited with {_process.ExitCode}:\n{string.Join('\n', Output)}");
            }

            if (await ReadyStatusAsync() == "Healthy")
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The worker was not ready in time:\n{string.Join('\n', Output)}");
    }

    /// <summary>
    /// The first line of output that contains <paramref name="text"/>, waiting for it: the output is read on another
    /// thread, so a line the worker wrote before it answered a request may not have been read yet when the answer comes.
    /// </summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var line = Output.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"The worker wrote no line containing '{text}'; its last output:\n{string.Join('\n', Output.TakeLast(40))}");
            }

            await Task.Delay(50);
        }
    }

    public async Task<string?> ReadyStatusAsync()
    {
        try
        {
            using var body = JsonDocument.Parse(await ReadyReportAsync());
            return body.RootElement.GetProperty("status").GetString();
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The JSON body of <c>/health/ready</c>.</summary>
    public async Task<string> ReadyReportAsync()
    {
        using var response = await Http.GetAsync(new Uri(BaseAddress, "/health/ready"));
        return await response.Content.ReadAsStringAsync();
    }

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    /// <summary>User + system CPU seconds so far (from /proc).</summary>
    public double CpuSeconds()
    {
        ThrowIfExited();
        var fields = File.ReadAllText($"/proc/{_process.Id}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>Peak resident memory in MB (VmHWM).</summary>
    public double PeakRssMb()
    {
        ThrowIfExited();
        var line = File.ReadAllLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    /// <summary>A worker that should still be running has gone: say how, with its last words, instead of a missing /proc file.</summary>
    public void ThrowIfExited()
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException(
                $"The worker exited with {_process.ExitCode}; its last output:\n{string.Join('\n', Output.TakeLast(60))}");
        }
    }

    /// <summary>SIGTERM: the graceful stop a service manager sends.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            using var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync();
        }

        return await WaitForExitAsync();
    }

    /// <summary>SIGKILL: the crash nothing can clean up after.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
