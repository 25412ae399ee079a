using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Aireiter.Client.Parameters;

/// <summary>
/// Checks a request's parameters against its model's documented rules before it is ever stored, so a
/// catalogue learns of a typo at import time, not after paying for a failed task. An unknown model gets
/// only the generic checks, so a model the upstream adds tomorrow can be used without a release.
/// </summary>
public static partial class ModelRules
{
    public const long MinCustomPixels = 655_360;
    public const long MaxCustomPixels = 8_294_400;

    /// <summary>Below this the upstream silently returns a ~1.57 MP image instead of the asked size.</summary>
    public const long SubstitutedBelowPixels = 2_088_960;

    private static readonly string[] GptAspectRatios =
        ["1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "2:1", "1:2", "21:9", "9:21"];

    private static readonly string[] AnyModelParameters = ["prompt", "aspect_ratio", "resolution", "size", "quality", "web_search", "image_url"];

    private static readonly string[] KnownQualities = ["low", "medium", "high", "auto"];

    // gpt_image_2 pixel table (aspect → 1K, 2K, 4K). Where the docs list two 1K sizes, the first is shown.
    private static readonly Dictionary<string, PixelSize> GptPixelSizes = Table(new()
    {
        ["1:1"] = [new(1024, 1024), new(2048, 2048), new(2880, 2880)],
        ["3:2"] = [new(1536, 1024), new(2048, 1360), new(3520, 2336)],
        ["2:3"] = [new(1024, 1536), new(1360, 2048), new(2336, 3520)],
        ["4:3"] = [new(1024, 768), new(2048, 1536), new(3312, 2480)],
        ["3:4"] = [new(768, 1024), new(1536, 2048), new(2480, 3312)],
        ["5:4"] = [new(1280, 1024), new(2560, 2048), new(3216, 2576)],
        ["4:5"] = [new(1024, 1280), new(2048, 2560), new(2576, 3216)],
        ["16:9"] = [new(1536, 864), new(2048, 1152), new(3840, 2160)],
        ["9:16"] = [new(864, 1536), new(1152, 2048), new(2160, 3840)],
        ["2:1"] = [new(2048, 1024), new(2688, 1344), new(3840, 1920)],
        ["1:2"] = [new(1024, 2048), new(1344, 2688), new(1920, 3840)],
        ["21:9"] = [new(2016, 864), new(2688, 1152), new(3840, 1648)],
        ["9:21"] = [new(864, 2016), new(1152, 2688), new(1648, 3840)],
    });

    private static readonly string[] OfficialFourK = ["16:9", "9:16", "2:1", "1:2", "21:9", "9:21"];

    private static readonly Dictionary<string, ModelRule> Rules = new[]
    {
        new ModelRule
        {
            Model = "gpt_image_2",
            AspectRatios = GptAspectRatios,
            Resolutions = ["1K", "2K", "4K"],
            SupportsCustomSize = true,
            MaxReferenceImages = 9,
            PixelSizes = GptPixelSizes,
        },
        new ModelRule
        {
            Model = "gpt_image_2_official",
            AspectRatios = GptAspectRatios,
            Resolutions = ["1K", "2K", "4K"],
            FourKAspectRatios = OfficialFourK,
            SupportsQuality = true,
            MaxReferenceImages = 9,
            PixelSizes = GptPixelSizes
                .Where(p => !p.Key.EndsWith("@4K", StringComparison.Ordinal) || OfficialFourK.Contains(p.Key.Split('@')[0]))
                .ToDictionary(),
        },
        new ModelRule
        {
            Model = "seedream_v5_lite",
            AspectRatios = ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "21:9"],
            Resolutions = ["2K", "3K"],
            SupportsWebSearch = true,
            MaxReferenceImages = 9,
            ReferenceImages = ReferenceImages.UrlOrLimitedDataUri,
            MaxDataUriBytes = 10 * 1024 * 1024,
            AcceptsCallback = true,
        },
    }.ToDictionary(r => r.Model, StringComparer.Ordinal);

    // Documented with callback_url, though their parameters are not checked beyond the generic rules.
    private static readonly HashSet<string> OtherCallbackModels =
        ["seedream_v4_5", "seedream_v4", "gpt_4o", "nano_banana_pro", "nano_banana_pro_base", "nano_banana_pro_plus",
         "nano_banana_pro_advanced", "nano_banana_pro_max", "sora2_pro"];

    public static IReadOnlyCollection<string> CheckedModels => Rules.Keys;

    public static ModelRule? Find(string model) => Rules.GetValueOrDefault(model);

    /// <summary>Whether a <c>callback_url</c> may be sent with this model. Unknown models: no (polling always works).</summary>
    public static bool AcceptsCallback(string model) =>
        Rules.TryGetValue(model, out var rule) ? rule.AcceptsCallback : OtherCallbackModels.Contains(model);

    /// <summary>The documented pixel size of an aspect ratio at a resolution tier, when the docs give one.</summary>
    public static PixelSize? PixelSizeFor(string model, string aspectRatio, string resolution) =>
        Rules.TryGetValue(model, out var rule) && rule.PixelSizes.TryGetValue($"{aspectRatio}@{resolution}", out var size) ? size : null;

    /// <param name="maxPromptLength">The longest prompt accepted, in characters (the upstream documents none).</param>
    public static ParameterCheck Check(string? model, JsonNode? parameters, int maxPromptLength = int.MaxValue)
    {
        var errors = new List<ParameterProblem>();
        var warnings = new List<ParameterProblem>();

        if (string.IsNullOrWhiteSpace(model))
        {
            errors.Add(new("model", "is required."));
        }
        else if (!ModelName().IsMatch(model))
        {
            errors.Add(new("model", $"'{model}' is not a model id (lower-case letters, digits, '_', '.', '-')."));
        }

        if (parameters is not JsonObject values)
        {
            errors.Add(new("params", "must be a JSON object."));
            return new ParameterCheck(errors, warnings);
        }

        CheckPrompt(values, maxPromptLength, errors);
        if (model is not null && Rules.TryGetValue(model, out var rule))
        {
            CheckAgainst(rule, values, errors, warnings);
        }

        return new ParameterCheck(errors, warnings);
    }

    private static void CheckPrompt(JsonObject values, int maxLength, List<ParameterProblem> errors)
    {
        if (!values.TryGetPropertyValue("prompt", out var prompt) || prompt is null)
        {
            errors.Add(new("prompt", "is required."));
        }
        else if (prompt.GetValueKind() != System.Text.Json.JsonValueKind.String)
        {
            errors.Add(new("prompt", "must be text."));
        }
        else if (prompt.GetValue<string>() is var text && string.IsNullOrWhiteSpace(text))
        {
            errors.Add(new("prompt", "must not be empty."));
        }
        else if (text.Length > maxLength)
        {
            errors.Add(new("prompt", $"is {text.Length:N0} characters; the limit is {maxLength:N0} (Engine:MaxPromptLength)."));
        }
    }

    private static void CheckAgainst(ModelRule rule, JsonObject values, List<ParameterProblem> errors, List<ParameterProblem> warnings)
    {
        // A misspelt parameter would be sent and ignored upstream, and the wrong image paid for: name it instead.
        // (size, quality and web_search, documented for some models only, get their own message below.)
        foreach (var (name, _) in values.Where(p => !AnyModelParameters.Contains(p.Key)))
        {
            errors.Add(new(name, $"is not a parameter of {rule.Model} (its parameters: {string.Join(", ", KnownParameters(rule))})."));
        }

        var aspect = Text(values, "aspect_ratio", errors);
        var resolution = Text(values, "resolution", errors);

        if (aspect is not null && !rule.AspectRatios.Contains(aspect))
        {
            errors.Add(new("aspect_ratio", $"'{aspect}' is not offered by {rule.Model}; use one of {string.Join(", ", rule.AspectRatios)}."));
        }

        if (resolution is not null && !rule.Resolutions.Contains(resolution))
        {
            var hint = rule.Resolutions.FirstOrDefault(r => string.Equals(r, resolution, StringComparison.OrdinalIgnoreCase));
            errors.Add(new("resolution", hint is not null
                ? $"'{resolution}' must be written '{hint}' (upper-case K)."
                : $"'{resolution}' is not offered by {rule.Model}; use one of {string.Join(", ", rule.Resolutions)}."));
        }

        if (resolution == "4K" && rule.FourKAspectRatios is { } fourK && (aspect is null || !fourK.Contains(aspect)))
        {
            errors.Add(new("resolution", $"4K is only offered by {rule.Model} for {string.Join(", ", fourK)} (aspect_ratio is '{aspect ?? "not set"}')."));
        }

        CheckSize(rule, values, aspect, resolution, errors, warnings);

        if (values.ContainsKey("quality"))
        {
            var quality = Text(values, "quality", errors);
            if (!rule.SupportsQuality)
            {
                errors.Add(new("quality", $"is not a parameter of {rule.Model}."));
            }
            else if (quality is not null && !KnownQualities.Contains(quality))
            {
                warnings.Add(new("quality", $"'{quality}' is not one of {string.Join(", ", KnownQualities)}; the upstream documents no list, so it is sent as given."));
            }
        }

        if (values.TryGetPropertyValue("web_search", out var webSearch))
        {
            if (!rule.SupportsWebSearch)
            {
                errors.Add(new("web_search", $"is not a parameter of {rule.Model}."));
            }
            else if (webSearch?.GetValueKind() is not (System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False))
            {
                errors.Add(new("web_search", "must be true or false."));
            }
        }

        CheckReferenceImages(rule, values, errors);
    }

    private static void CheckSize(ModelRule rule, JsonObject values, string? aspect, string? resolution,
        List<ParameterProblem> errors, List<ParameterProblem> warnings)
    {
        if (!values.ContainsKey("size"))
        {
            return;
        }

        var size = Text(values, "size", errors);
        if (!rule.SupportsCustomSize)
        {
            errors.Add(new("size", $"is not a parameter of {rule.Model}; use aspect_ratio and resolution."));
            return;
        }

        if (aspect is not null || resolution is not null)
        {
            errors.Add(new("size", "cannot be combined with aspect_ratio or resolution (the upstream answers 400); give one or the other."));
        }

        if (size is null)
        {
            return;
        }

        var match = SizePattern().Match(size);
        if (!match.Success)
        {
            errors.Add(new("size", $"'{size}' must be WIDTHxHEIGHT with a lower-case x, e.g. 2048x1152."));
            return;
        }

        var pixels = long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
                     * long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (pixels is < MinCustomPixels or > MaxCustomPixels)
        {
            errors.Add(new("size", $"{size} is {pixels:N0} pixels; the upstream accepts {MinCustomPixels:N0} to {MaxCustomPixels:N0}."));
        }
        else if (pixels < SubstitutedBelowPixels)
        {
            warnings.Add(new("size", $"{size} is {pixels:N0} pixels; below {SubstitutedBelowPixels:N0} the upstream silently returns a ~1.57 MP image of similar ratio instead."));
        }
    }

    private static void CheckReferenceImages(ModelRule rule, JsonObject values, List<ParameterProblem> errors)
    {
        if (!values.TryGetPropertyValue("image_url", out var node) || node is null)
        {
            return;
        }

        var images = new List<(string Field, JsonNode? Value)>();
        if (node is JsonArray array)
        {
            images.AddRange(array.Select((v, i) => ($"image_url[{i}]", v)));
        }
        else
        {
            images.Add(("image_url", node));
        }

        if (images.Count > rule.MaxReferenceImages)
        {
            errors.Add(new("image_url", $"{images.Count} reference images given; {rule.Model} takes at most {rule.MaxReferenceImages}."));
        }

        foreach (var (field, value) in images)
        {
            if (value?.GetValueKind() != System.Text.Json.JsonValueKind.String)
            {
                errors.Add(new(field, "must be a URL or a data URI as text."));
                continue;
            }

            var text = value.GetValue<string>();
            if (text.StartsWith("data:", StringComparison.Ordinal))
            {
                CheckDataUri(rule, field, text, errors);
            }
            else if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add(new(field, "must be a public http(s) URL or a data:image/…;base64, URI."));
            }
        }
    }

    private static void CheckDataUri(ModelRule rule, string field, string text, List<ParameterProblem> errors)
    {
        var comma = text.IndexOf(',', StringComparison.Ordinal);
        var header = comma < 0 ? text : text[..comma];
        var allowed = rule.ReferenceImages == ReferenceImages.UrlOrLimitedDataUri
            ? LimitedDataUriHeader().IsMatch(header)
            : AnyImageDataUriHeader().IsMatch(header);
        if (comma < 0 || !allowed)
        {
            errors.Add(new(field, rule.ReferenceImages == ReferenceImages.UrlOrLimitedDataUri
                ? "a base64 image must start with data:image/jpeg;base64, (or png, webp)."
                : "a base64 image must start with data:image/<type>;base64,."));
            return;
        }

        var decodedBytes = (text.Length - comma - 1) / 4L * 3;
        if (decodedBytes > rule.MaxDataUriBytes)
        {
            errors.Add(new(field, $"the image is about {decodedBytes / (1024 * 1024.0):F1} MB; {rule.Model} takes at most {rule.MaxDataUriBytes / (1024 * 1024)} MB per base64 image."));
        }
    }

    private static List<string> KnownParameters(ModelRule rule)
    {
        List<string> known = ["prompt", "aspect_ratio", "resolution"];
        if (rule.SupportsCustomSize)
        {
            known.Add("size");
        }

        if (rule.SupportsQuality)
        {
            known.Add("quality");
        }

        if (rule.SupportsWebSearch)
        {
            known.Add("web_search");
        }

        known.Add("image_url");
        return known;
    }

    private static string? Text(JsonObject values, string field, List<ParameterProblem> errors)
    {
        if (!values.TryGetPropertyValue(field, out var node) || node is null)
        {
            return null;
        }

        if (node.GetValueKind() != System.Text.Json.JsonValueKind.String)
        {
            errors.Add(new(field, "must be text."));
            return null;
        }

        return node.GetValue<string>();
    }

    private static Dictionary<string, PixelSize> Table(Dictionary<string, PixelSize[]> byAspect)
    {
        string[] tiers = ["1K", "2K", "4K"];
        return byAspect.SelectMany(a => a.Value.Select((size, i) => (Key: $"{a.Key}@{tiers[i]}", size)))
            .ToDictionary(p => p.Key, p => p.size);
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_.-]{0,63}$")]
    private static partial Regex ModelName();

    [GeneratedRegex("^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")]
    private static partial Regex SizePattern();

    [GeneratedRegex("^data:image/(jpeg|png|webp);base64$")]
    private static partial Regex LimitedDataUriHeader();

    [GeneratedRegex("^data:image/[a-z0-9.+-]+;base64$")]
    private static partial Regex AnyImageDataUriHeader();
}
