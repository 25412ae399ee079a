using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Aireiter.Jobs.Requests;

/// <summary>A generation to enqueue, as the API, the importer or a schedule hands it over.</summary>
public sealed record NewRequest(string Model, JsonObject Params)
{
    /// <summary>The caller's own id for the upstream task; <c>[A-Za-z0-9_-]</c>, at most 64.</summary>
    public string? OutTaskId { get; init; }

    /// <summary>The caller's key (a SKU, a row number). With no OutTaskId, the id is derived from batch + key, so a repeat inserts nothing.</summary>
    public string? Key { get; init; }

    public long? BatchId { get; init; }

    /// <summary>Higher goes first.</summary>
    public short Priority { get; init; }

    /// <summary>Held until then (e.g. "tonight at 01:00").</summary>
    public DateTimeOffset? NotBefore { get; init; }

    public JsonObject? Metadata { get; init; }
}

/// <summary>What became of one request handed to <see cref="RequestEnqueuer"/>.</summary>
public enum EnqueueStatus
{
    Inserted,
    AlreadyPresent,
    Invalid,
}

public sealed record EnqueueResult(int Index, EnqueueStatus Status, string? OutTaskId, long? Id,
    IReadOnlyList<Aireiter.Client.Parameters.ParameterProblem> Errors,
    IReadOnlyList<Aireiter.Client.Parameters.ParameterProblem> Warnings);

public static partial class OutTaskIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    /// <summary>
    /// A stable id for a key within a scope (the batch name): the same pair always gives the same id,
    /// different pairs practically never collide, and the result always suits the upstream's charset.
    /// </summary>
    public static string Derive(string? scope, string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{scope}\n{key}"));
        return "k-" + Convert.ToHexStringLower(hash)[..30];
    }

    public static string NewRandom() => "r-" + Guid.NewGuid().ToString("N");

    /// <summary>
    /// The id sent upstream for the <paramref name="retry"/>-th retry of <paramref name="outTaskId"/>: a fresh task,
    /// since the old id may be known (and billed) upstream. It still names the request, and stays within the limit.
    /// </summary>
    public static string ForRetry(string outTaskId, int retry)
    {
        var suffix = $"-r{retry}";
        return outTaskId[..Math.Min(outTaskId.Length, MaxLength - suffix.Length)] + suffix;
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex Pattern();
}
