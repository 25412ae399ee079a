using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Aireiter.Jobs.Testing;

/// <summary>
/// Hands out loopback ports for test servers (workers, simulators, PostgreSQL) to bind a moment later.
/// </summary>
/// <remarks>
/// Ports come from below the kernel's ephemeral range. A port from inside it (what binding port 0 gives) can be
/// taken by any outgoing connection on the machine between the hand-out and the server's bind: a worker once
/// died with "Failed to bind to address" that way while two suites shared the machine. Below the range only a
/// listener can take a port, so each one is checked by binding it, and one process-wide sequence from a random
/// start keeps this process from handing out a port twice and makes a clash with another suite unlikely.
/// </remarks>
public static class FreePort
{
    private const int Lowest = 10_000;
    private static readonly int Highest = EphemeralRangeStart() - 1;
    private static int _last = Random.Shared.Next(Highest - Lowest + 1);

    /// <summary>A loopback port below the ephemeral range that nobody listens on right now.</summary>
    public static int Next()
    {
        var count = Highest - Lowest + 1;
        for (var tried = 0; tried < count; tried++)
        {
            var port = Lowest + (int)((uint)Interlocked.Increment(ref _last) % (uint)count);
            if (IsFree(port))
                return port;
        }
        throw new InvalidOperationException($"No free loopback port between {Lowest} and {Highest}.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port the kernel picks for outgoing connections (32768 where it cannot be read).</summary>
    private static int EphemeralRangeStart()
    {
        const int fallback = 32_768;
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var start = int.Parse(range[0], CultureInfo.InvariantCulture);
            return start > Lowest + 1_000 ? start : fallback;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return fallback;
        }
    }
}
