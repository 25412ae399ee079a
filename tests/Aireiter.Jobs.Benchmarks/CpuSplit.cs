using System.Diagnostics;
using System.Globalization;

namespace Aireiter.Jobs.Benchmarks;

/// <summary>
/// Where a scenario's CPU went: PostgreSQL (the postmaster and every backend, those that exited included), this process
/// (the harness and the simulator it hosts), and the whole machine. Read from /proc before and after, so the difference
/// is the scenario's; the workers' own CPU is read from their processes.
/// </summary>
public sealed record CpuSplit(double PostgresSeconds, double HarnessSeconds, double MachineBusySeconds, double MachineSeconds)
{
    private const double TicksPerSecond = 100; // USER_HZ, the unit of /proc's times on Linux

    /// <summary>Now; PostgreSQL's share is NaN when its processes are not readable here (an external server).</summary>
    public static async Task<CpuSplit> SampleAsync(BenchDatabase db)
    {
        var postgres = double.NaN;
        var directory = await db.ScalarAsync<string>("select setting from pg_settings where name = 'data_directory'");
        var pidFile = Path.Combine(directory, "postmaster.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).First(), CultureInfo.InvariantCulture, out var postmaster))
        {
            postgres = Postgres(postmaster);
        }

        // /proc/stat's first line: user nice system idle iowait irq softirq steal, in ticks over every core.
        var machine = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..9]
            .Select(t => long.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        var total = machine.Sum() / TicksPerSecond;
        var idle = (machine[3] + machine[4]) / TicksPerSecond;
        return new CpuSplit(postgres, Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, total - idle, total);
    }

    public static CpuSplit operator -(CpuSplit after, CpuSplit before) => new(after.PostgresSeconds - before.PostgresSeconds,
        after.HarnessSeconds - before.HarnessSeconds, after.MachineBusySeconds - before.MachineBusySeconds, after.MachineSeconds - before.MachineSeconds);

    /// <summary>The machine's busy share over the interval, of all its cores.</summary>
    public double MachineBusyPercent => 100 * MachineBusySeconds / MachineSeconds;

    /// <summary>The postmaster's own time and that of the backends it has reaped, plus every backend still running.</summary>
    private static double Postgres(int postmaster)
    {
        var ticks = Fields(postmaster) is { } own ? own[11] + own[12] + own[13] + own[14] : 0;
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(folder), CultureInfo.InvariantCulture, out var pid) && Fields(pid) is { } fields && fields[1] == postmaster)
            {
                ticks += fields[11] + fields[12];
            }
        }

        return ticks / TicksPerSecond;
    }

    /// <summary>/proc/PID/stat after the command's name (state, ppid, …), or null for a process that has gone.</summary>
    private static long[]? Fields(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ').Skip(1).Take(15)
                .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).Prepend(0).ToArray();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
