namespace Aireiter.Jobs.Worker.Hosting;

/// <summary>The folder relative paths (the embedded database, output files) are taken from.</summary>
public static class RepositoryRoot
{
    /// <summary>
    /// The nearest folder above the executable or the working directory that holds Aireiter.Jobs.sln:
    /// the checkout, when run from one. Otherwise the working directory (a container or a published copy).
    /// </summary>
    public static string Find()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Aireiter.Jobs.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
