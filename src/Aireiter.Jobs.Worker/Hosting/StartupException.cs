namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>Start-up cannot go on; the message is one line that says what is wrong and what to do.</summary>
public sealed class StartupException(string message) : Exception(message);
