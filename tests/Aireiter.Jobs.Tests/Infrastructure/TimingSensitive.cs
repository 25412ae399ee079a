namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>
/// Tests that measure time as the upstream sees it (poll windows, submits per second) run alone, after the others:
/// on two cores shared with every other test class, a starved process can make calls sent 50 ms apart arrive together.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "timing-sensitive";
}
