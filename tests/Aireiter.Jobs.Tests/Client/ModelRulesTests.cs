using System.Text.Json.Nodes;
using Aireiter.Client.Parameters;

namespace Aireiter.Jobs.Tests.Client;

public sealed class ModelRulesTests
{
    private static ParameterCheck Check(string model, string json) => ModelRules.Check(model, JsonNode.Parse(json));

    private static void AssertError(ParameterCheck check, string field, string fragment)
    {
        Assert.False(check.IsValid);
        Assert.Contains(check.Errors, e => e.Field == field && e.Message.Contains(fragment, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("1:1")] [InlineData("3:2")] [InlineData("2:3")] [InlineData("4:3")] [InlineData("3:4")] [InlineData("5:4")] [InlineData("4:5")]
    [InlineData("16:9")] [InlineData("9:16")] [InlineData("2:1")] [InlineData("1:2")] [InlineData("21:9")] [InlineData("9:21")]
    public void GptImage2_AcceptsEachOfItsThirteenAspectRatios_AtEveryTier(string aspect)
    {
        foreach (var tier in new[] { "1K", "2K", "4K" })
        {
            var check = Check("gpt_image_2", $$"""{"prompt":"p","aspect_ratio":"{{aspect}}","resolution":"{{tier}}"}""");
            Assert.True(check.IsValid, string.Join("; ", check.Errors));
        }
    }

    [Fact]
    public void GptImage2_RefusesAnUnknownAspectRatio_AndListsTheAllowedOnes() =>
        AssertError(Check("gpt_image_2", """{"prompt":"p","aspect_ratio":"7:3"}"""), "aspect_ratio", "use one of 1:1, 3:2");

    [Fact]
    public void Resolution_InLowerCase_SaysToWriteTheUpperCaseK() =>
        AssertError(Check("gpt_image_2", """{"prompt":"p","resolution":"2k"}"""), "resolution", "must be written '2K'");

    [Fact]
    public void Resolution_NotOffered_IsRefused() =>
        AssertError(Check("gpt_image_2", """{"prompt":"p","resolution":"8K"}"""), "resolution", "use one of 1K, 2K, 4K");

    [Theory]
    [InlineData("2048x1152")]
    [InlineData("3840x2160")]
    [InlineData("2048x2048")]
    public void Size_InsideThePixelRange_IsAccepted(string size) =>
        Assert.True(Check("gpt_image_2", $$"""{"prompt":"p","size":"{{size}}"}""").IsValid);

    [Theory]
    [InlineData("512x512", "262,144 pixels")]
    [InlineData("4096x4096", "16,777,216 pixels")]
    public void Size_OutsideThePixelRange_IsRefused_WithTheCount(string size, string fragment) =>
        AssertError(Check("gpt_image_2", $$"""{"prompt":"p","size":"{{size}}"}"""), "size", fragment);

    [Fact]
    public void Size_AtTheRangeEdges_IsAccepted()
    {
        Assert.True(Check("gpt_image_2", """{"prompt":"p","size":"1024x640"}""").IsValid); // 655,360
        Assert.True(Check("gpt_image_2", """{"prompt":"p","size":"3840x2160"}""").IsValid); // 8,294,400
        Assert.False(Check("gpt_image_2", """{"prompt":"p","size":"3841x2160"}""").IsValid);
    }

    [Fact]
    public void Size_BelowTheSubstitutionThreshold_PassesWithAWarning()
    {
        var check = Check("gpt_image_2", """{"prompt":"p","size":"1024x1024"}""");

        Assert.True(check.IsValid);
        var warning = Assert.Single(check.Warnings);
        Assert.Equal("size", warning.Field);
        Assert.Contains("silently returns a ~1.57 MP image", warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2048X1152")]
    [InlineData("2048*1152")]
    [InlineData("wide")]
    public void Size_NotWrittenWxH_IsRefused(string size) =>
        AssertError(Check("gpt_image_2", $$"""{"prompt":"p","size":"{{size}}"}"""), "size", "WIDTHxHEIGHT");

    [Theory]
    [InlineData("""{"prompt":"p","size":"2048x2048","aspect_ratio":"1:1"}""")]
    [InlineData("""{"prompt":"p","size":"2048x2048","resolution":"2K"}""")]
    public void Size_WithAspectRatioOrResolution_IsRefused(string json) =>
        AssertError(Check("gpt_image_2", json), "size", "cannot be combined");

    [Fact]
    public void ReferenceImages_MayMixUrlsAndDataUris_UpToNine()
    {
        var images = new JsonArray(Enumerable.Range(0, 8).Select(i => (JsonNode)JsonValue.Create($"https://cdn.example/{i}.png")).ToArray());
        images.Add("data:image/png;base64,iVBORw0KGgo=");
        var parameters = new JsonObject { ["prompt"] = "p", ["image_url"] = images };

        Assert.True(ModelRules.Check("gpt_image_2", parameters).IsValid);

        images.Add("https://cdn.example/9.png");
        AssertError(ModelRules.Check("gpt_image_2", parameters), "image_url", "10 reference images given; gpt_image_2 takes at most 9");
    }

    [Fact]
    public void ReferenceImage_ThatIsNeitherUrlNorDataUri_IsRefusedByPosition() =>
        AssertError(Check("gpt_image_2", """{"prompt":"p","image_url":["https://a/1.png","ftp://a/2.png"]}"""), "image_url[1]", "http(s) URL");

    [Fact]
    public void Official_FourK_OnlyForTheWideAndTallRatios()
    {
        foreach (var aspect in new[] { "16:9", "9:16", "2:1", "1:2", "21:9", "9:21" })
        {
            Assert.True(Check("gpt_image_2_official", $$"""{"prompt":"p","aspect_ratio":"{{aspect}}","resolution":"4K"}""").IsValid);
        }

        AssertError(Check("gpt_image_2_official", """{"prompt":"p","aspect_ratio":"1:1","resolution":"4K"}"""), "resolution", "4K is only offered");
        AssertError(Check("gpt_image_2_official", """{"prompt":"p","resolution":"4K"}"""), "resolution", "aspect_ratio is 'not set'");
    }

    [Fact]
    public void Official_Quality_IsAccepted_AndAnUnlistedValueOnlyWarns()
    {
        Assert.True(Check("gpt_image_2_official", """{"prompt":"p","quality":"high"}""").IsValid);

        var odd = Check("gpt_image_2_official", """{"prompt":"p","quality":"ultra"}""");
        Assert.True(odd.IsValid);
        Assert.Equal("quality", Assert.Single(odd.Warnings).Field);
    }

    [Fact]
    public void Quality_OnAModelWithout_IsRefused() =>
        AssertError(Check("gpt_image_2", """{"prompt":"p","quality":"high"}"""), "quality", "is not a parameter of gpt_image_2");

    [Fact]
    public void Official_HasNoCustomSize() =>
        AssertError(Check("gpt_image_2_official", """{"prompt":"p","size":"2048x2048"}"""), "size", "not a parameter");

    [Theory]
    [InlineData("1:1")] [InlineData("3:2")] [InlineData("2:3")] [InlineData("4:3")] [InlineData("3:4")] [InlineData("16:9")] [InlineData("9:16")] [InlineData("21:9")]
    public void Seedream_AcceptsItsEightRatios_At2KAnd3K(string aspect)
    {
        Assert.True(Check("seedream_v5_lite", $$"""{"prompt":"p","aspect_ratio":"{{aspect}}","resolution":"2K"}""").IsValid);
        Assert.True(Check("seedream_v5_lite", $$"""{"prompt":"p","aspect_ratio":"{{aspect}}","resolution":"3K"}""").IsValid);
    }

    [Fact]
    public void Seedream_RefusesRatiosAndTiersItDoesNotOffer()
    {
        AssertError(Check("seedream_v5_lite", """{"prompt":"p","aspect_ratio":"5:4"}"""), "aspect_ratio", "not offered by seedream_v5_lite");
        AssertError(Check("seedream_v5_lite", """{"prompt":"p","resolution":"4K"}"""), "resolution", "use one of 2K, 3K");
    }

    [Fact]
    public void Seedream_WebSearch_MustBeABoolean()
    {
        Assert.True(Check("seedream_v5_lite", """{"prompt":"p","web_search":true}""").IsValid);
        AssertError(Check("seedream_v5_lite", """{"prompt":"p","web_search":"yes"}"""), "web_search", "true or false");
        AssertError(Check("gpt_image_2", """{"prompt":"p","web_search":true}"""), "web_search", "not a parameter");
    }

    [Fact]
    public void Seedream_Base64_NeedsTheJpegPngOrWebpPrefix_AndAtMost10MB()
    {
        Assert.True(Check("seedream_v5_lite", """{"prompt":"p","image_url":["data:image/webp;base64,UklGRg=="]}""").IsValid);
        AssertError(Check("seedream_v5_lite", """{"prompt":"p","image_url":["data:image/gif;base64,R0lGOD=="]}"""), "image_url[0]", "data:image/jpeg;base64,");
        AssertError(Check("seedream_v5_lite", """{"prompt":"p","image_url":["iVBORw0KGgo="]}"""), "image_url[0]", "http(s) URL");

        var big = "data:image/png;base64," + new string('A', 14_500_000); // about 10.4 MB decoded
        var parameters = new JsonObject { ["prompt"] = "p", ["image_url"] = new JsonArray(big) };
        AssertError(ModelRules.Check("seedream_v5_lite", parameters), "image_url[0]", "at most 10 MB");
    }

    [Theory]
    [InlineData("""{"aspect_ratio":"1:1"}""", "prompt", "is required")]
    [InlineData("""{"prompt":"   "}""", "prompt", "must not be empty")]
    [InlineData("""{"prompt":42}""", "prompt", "must be text")]
    [InlineData("""{"prompt":"p","aspect_ratio":16}""", "aspect_ratio", "must be text")]
    public void Prompt_AndTypes_AreChecked(string json, string field, string fragment) =>
        AssertError(Check("gpt_image_2", json), field, fragment);

    [Fact]
    public void AnUnknownModel_GetsOnlyTheGenericChecks()
    {
        Assert.True(Check("nano_banana_v2_plus", """{"prompt":"p","aspect_ratio":"auto","anything":[1,2]}""").IsValid);
        AssertError(Check("nano_banana_v2_plus", """{"aspect_ratio":"auto"}"""), "prompt", "is required");
        AssertError(ModelRules.Check("nano_banana_v2_plus", JsonNode.Parse("[1]")), "params", "JSON object");
        AssertError(ModelRules.Check("Bad Model!", JsonNode.Parse("""{"prompt":"p"}""")), "model", "not a model id");
        AssertError(ModelRules.Check("", JsonNode.Parse("""{"prompt":"p"}""")), "model", "is required");
    }

    [Fact]
    public void PixelSizes_FromTheDocumentedTables_AreAvailable()
    {
        Assert.Equal(new PixelSize(3840, 2160), ModelRules.PixelSizeFor("gpt_image_2", "16:9", "4K"));
        Assert.Equal(new PixelSize(2688, 1152), ModelRules.PixelSizeFor("gpt_image_2", "21:9", "2K"));
        Assert.Equal(new PixelSize(1024, 1024), ModelRules.PixelSizeFor("gpt_image_2_official", "1:1", "1K"));
        Assert.Equal(new PixelSize(1648, 3840), ModelRules.PixelSizeFor("gpt_image_2_official", "9:21", "4K"));
        Assert.Null(ModelRules.PixelSizeFor("gpt_image_2_official", "1:1", "4K")); // not offered
        Assert.Null(ModelRules.PixelSizeFor("seedream_v5_lite", "1:1", "2K"));      // not documented
    }

    [Fact]
    public void Callbacks_AreOnlyForModelsThatDocumentThem()
    {
        Assert.True(ModelRules.AcceptsCallback("seedream_v5_lite"));
        Assert.True(ModelRules.AcceptsCallback("nano_banana_pro"));
        Assert.False(ModelRules.AcceptsCallback("gpt_image_2"));
        Assert.False(ModelRules.AcceptsCallback("gpt_image_2_official"));
        Assert.False(ModelRules.AcceptsCallback("some_new_model"));
    }
}
