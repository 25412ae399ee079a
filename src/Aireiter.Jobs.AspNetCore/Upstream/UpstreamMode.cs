namespace Aireiter.Jobs.AspNetCore.Upstream;

/// <summary>Which upstream this node talks to: the real API, or the built-in simulator (the standalone host's choice).</summary>
public sealed record UpstreamMode(bool Simulated, Uri BaseUrl);
