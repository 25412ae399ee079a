using System.Reflection;
using Hangfire;

namespace Aireiter.Jobs.Tests.Hosting;

/// <summary>Rules every Hangfire job of the product keeps.</summary>
[Collection(Aireiter.Jobs.Tests.Infrastructure.HangfireStatics.Name)]
public sealed class HangfireJobRulesTests
{
    private static readonly Type[] Jobs = typeof(Aireiter.Jobs.Extensions).Assembly.GetTypes()
        .Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<JobDisplayNameAttribute>() is not null))
        .ToArray();

    [Fact]
    public void EveryJob_SetsItsOwnRetries_NeverHangfiresGlobalTenAttempts()
    {
        Assert.True(Jobs.Length >= 4, $"found only {string.Join(", ", Jobs.Select(j => j.Name))}");
        Assert.All(Jobs, job => Assert.True(job.GetCustomAttribute<AutomaticRetryAttribute>() is { Attempts: <= 5 },
            $"{job.Name} has no AutomaticRetry of its own (or more than 5 attempts)"));
    }

    [Fact]
    public void EveryJob_TakesACancellationToken_SoAStoppingNodeEndsItPromptly()
    {
        Assert.All(Jobs.SelectMany(j => j.GetMethods().Where(m => m.GetCustomAttribute<JobDisplayNameAttribute>() is not null)),
            method => Assert.Contains(method.GetParameters(), p => p.ParameterType == typeof(CancellationToken)));
    }
}
