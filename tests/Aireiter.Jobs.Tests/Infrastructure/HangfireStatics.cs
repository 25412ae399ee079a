namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>
/// Test classes that touch Hangfire's process-wide state in this process: an app hosted here (its Hangfire log
/// provider, activator and storage become Hangfire's globals for as long as it runs, and its disposed logger factory
/// after), and the tests that construct Hangfire's attributes (which log through that provider). They never overlap.
/// </summary>
[CollectionDefinition(Name)]
public sealed class HangfireStatics
{
    public const string Name = "hangfire-statics";

    /// <summary>Hands Hangfire's logging back to its default once a hosted app's logger factory is gone.</summary>
    public static void ForgetHostedApp() => Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
}
