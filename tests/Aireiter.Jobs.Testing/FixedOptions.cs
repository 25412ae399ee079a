using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Testing;

/// <summary>An options monitor with one fixed value, for building services by hand in tests and benchmarks.</summary>
public sealed class FixedOptions<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
