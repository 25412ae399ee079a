namespace Aireiter.Client.Parameters;

/// <summary>How reference images may be given to a model.</summary>
public enum ReferenceImages
{
    /// <summary>Public URLs or any <c>data:image/…;base64,</c> URI.</summary>
    UrlOrDataUri,

    /// <summary>Public URLs or <c>data:image/{jpeg|png|webp};base64,</c> up to a size limit each.</summary>
    UrlOrLimitedDataUri,
}

/// <summary>The documented parameter rules of one upstream model (see the API fact sheet, section 6).</summary>
public sealed record ModelRule
{
    public required string Model { get; init; }
    public required IReadOnlyList<string> AspectRatios { get; init; }
    public required IReadOnlyList<string> Resolutions { get; init; }

    /// <summary>Aspect ratios allowed at 4K; null when every ratio is.</summary>
    public IReadOnlyList<string>? FourKAspectRatios { get; init; }

    public bool SupportsCustomSize { get; init; }
    public bool SupportsQuality { get; init; }
    public bool SupportsWebSearch { get; init; }
    public int MaxReferenceImages { get; init; } = 9;
    public ReferenceImages ReferenceImages { get; init; } = ReferenceImages.UrlOrDataUri;
    public long MaxDataUriBytes { get; init; } = long.MaxValue;

    /// <summary>Whether the model documents <c>callback_url</c>.</summary>
    public bool AcceptsCallback { get; init; }

    /// <summary>Pixel sizes by "aspect@resolution", where the documentation tables give them.</summary>
    public IReadOnlyDictionary<string, PixelSize> PixelSizes { get; init; } = new Dictionary<string, PixelSize>();
}
