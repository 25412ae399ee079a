namespace Aireiter.Jobs.Worker.Cli;

/// <summary>What the verbs' exit codes mean, for scripts and schedulers.</summary>
public static class ExitCodes
{
    /// <summary>Done, nothing wrong.</summary>
    public const int Ok = 0;

    /// <summary>The database or a setting is wrong (the log line says which).</summary>
    public const int Setup = 1;

    /// <summary>Done, but some lines were invalid (they are listed); the valid ones were imported unless --strict.</summary>
    public const int SomeInvalid = 2;

    /// <summary>The file was refused as a whole (empty, wrong delimiter, no prompt column, not UTF-8, missing).</summary>
    public const int FileRefused = 3;

    /// <summary>No such batch.</summary>
    public const int NotFound = 4;
}
