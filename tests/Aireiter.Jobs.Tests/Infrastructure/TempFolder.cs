namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>
/// A temporary folder, deleted when disposed. Declared before a test's harness, it is disposed after it: the workers
/// have stopped by then, so none is still moving a file or writing a report into the folder while it is deleted.
/// </summary>
public sealed class TempFolder : IDisposable
{
    private TempFolder(string path) => Path = path;

    public string Path { get; }

    public static TempFolder Create(string prefix) => new(Directory.CreateTempSubdirectory(prefix).FullName);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
