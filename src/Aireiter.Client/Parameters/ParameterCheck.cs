namespace Aireiter.Client.Parameters;

/// <summary>One thing wrong (or worth knowing) about one parameter, e.g. <c>size</c> or <c>image_url[2]</c>.</summary>
public sealed record ParameterProblem(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>The result of checking a request's parameters before it is stored: errors stop it, warnings do not.</summary>
public sealed record ParameterCheck(IReadOnlyList<ParameterProblem> Errors, IReadOnlyList<ParameterProblem> Warnings)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>Pixel dimensions of a generated image.</summary>
public readonly record struct PixelSize(int Width, int Height)
{
    public long Pixels => (long)Width * Height;

    public override string ToString() => $"{Width}x{Height}";
}
