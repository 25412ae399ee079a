using System.Text;
using System.Text.Json;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Import;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aireiter.Jobs.Tests.Import;

public sealed class ImportTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(database.ConnectionString);

    private CatalogueImporter Importer(EngineOptions? engine = null)
    {
        var options = new FixedOptions<EngineOptions>(engine ?? new EngineOptions());
        var enqueuer = new RequestEnqueuer(_dataSource, options, TimeProvider.System);
        return new CatalogueImporter(_dataSource, enqueuer, new BatchStore(_dataSource, TimeProvider.System), options, NullLogger<CatalogueImporter>.Instance);
    }

    private static ImportOptions Options(string batch, bool dryRun = false, bool strict = false, string? delimiter = null) => new()
    {
        BatchName = batch,
        DryRun = dryRun,
        Strict = strict,
        Delimiter = delimiter,
        Defaults = new Dictionary<string, string> { ["model"] = "gpt_image_2", ["resolution"] = "2K" },
    };

    private static MemoryStream Text(string text) => new(Encoding.UTF8.GetBytes(text));

    private const string Catalogue = """
        key,prompt,model,aspect_ratio,resolution,image_url,image_url,color
        SKU-1,A red chair on white,,1:1,,https://cdn.example/a.png,https://cdn.example/b.png,red
        SKU-2,A blue lamp,,1:1,8K,,,blue
        SKU-3,,,1:1,,,,green
        SKU-4,"A sofa, grey, three seats",seedream_v5_lite,16:9,3K,,,grey
        SKU-5,A table,gpt_image_2,7:3,,,,brown
        SKU-6,too,many,fields,1:1,2K,,,,x
        SKU-7,A mug,,,,,,white
        """;

    [Fact]
    public async Task AFileWithGoodAndBadLines_ImportsTheGoodOnes_AndReportsEachBadLineWithColumnAndReason()
    {
        var report = await Importer().ImportAsync(Text(Catalogue), "catalogue.csv", Options("mixed"), CancellationToken.None);

        Assert.Null(report.FileError);
        Assert.Equal(7, report.Lines);
        Assert.Equal(3, report.Inserted);
        Assert.Equal(4, report.InvalidCount);
        Assert.Contains(report.Invalid, p => p is { Line: 3, Column: "resolution" } && p.Reason.Contains("'8K'", StringComparison.Ordinal));
        Assert.Contains(report.Invalid, p => p is { Line: 4, Column: "prompt" } && p.Reason.Contains("required", StringComparison.Ordinal));
        Assert.Contains(report.Invalid, p => p is { Line: 6, Column: "aspect_ratio" } && p.Reason.Contains("'7:3'", StringComparison.Ordinal));
        Assert.Contains(report.Invalid, p => p is { Line: 7, Column: null } && p.Reason.Contains("10 fields, but the header has 8", StringComparison.Ordinal));

        await using var command = _dataSource.CreateCommand("""
            select r.item_key, r.model, r.params::text, r.metadata::text, b.name
            from generation_requests r join batches b on b.id = r.batch_id where b.name = 'mixed' order by r.item_key
            """);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string Key, string Model, JsonElement Params, JsonElement Metadata)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), JsonDocument.Parse(reader.GetString(2)).RootElement, JsonDocument.Parse(reader.GetString(3)).RootElement));
        }

        Assert.Equal(["SKU-1", "SKU-4", "SKU-7"], rows.Select(r => r.Key));
        Assert.Equal(2, rows[0].Params.GetProperty("image_url").GetArrayLength());
        Assert.Equal("2K", rows[0].Params.GetProperty("resolution").GetString()); // the default filled in
        Assert.Equal("red", rows[0].Metadata.GetProperty("color").GetString()); // other columns kept as metadata
        Assert.Equal("seedream_v5_lite", rows[1].Model);
        Assert.Equal("A sofa, grey, three seats", rows[1].Params.GetProperty("prompt").GetString());
        Assert.Equal("3K", rows[1].Params.GetProperty("resolution").GetString());
    }

    [Fact]
    public async Task ImportingTheSameFileAgain_InsertsNothing_AndSaysHowManyWereAlreadyPresent()
    {
        var first = await Importer().ImportAsync(Text(Catalogue), "catalogue.csv", Options("again"), CancellationToken.None);
        var second = await Importer().ImportAsync(Text(Catalogue), "catalogue.csv", Options("again"), CancellationToken.None);

        Assert.Equal(3, first.Inserted);
        Assert.Equal(0, second.Inserted);
        Assert.Equal(3, second.AlreadyPresent);
        Assert.Contains("0 new, 3 already present", second.ToText(), StringComparison.Ordinal);
        Assert.Equal(first.BatchId, second.BatchId);
    }

    [Fact]
    public async Task Strict_StoresNothing_WhenAnyLineIsInvalid()
    {
        var report = await Importer().ImportAsync(Text(Catalogue), "catalogue.csv", Options("strict", strict: true), CancellationToken.None);

        Assert.True(report.RolledBack);
        Assert.Equal(0, report.Inserted);
        Assert.Equal(4, report.InvalidCount);
        Assert.Equal(0L, await Count("select count(*) from batches where name = 'strict'"));
    }

    [Fact]
    public async Task DryRun_CountsPerModelAndResolution_EstimatesCredits_AndStoresNothing()
    {
        var engine = new EngineOptions();
        engine.Limits.EstimatedCredits["gpt_image_2@2K"] = 10;
        engine.Limits.EstimatedCredits["seedream_v5_lite@3K"] = 12;

        var report = await Importer(engine).ImportAsync(Text(Catalogue), "catalogue.csv", Options("dry", dryRun: true), CancellationToken.None);

        Assert.Equal(3, report.Valid);
        Assert.Equal((2, 20m), report.PerModel["gpt_image_2 2K"]);
        Assert.Equal((1, 12m), report.PerModel["seedream_v5_lite 3K"]);
        Assert.Equal(32m, report.EstimatedCredits);
        Assert.Contains("Estimated credits: ~32", report.ToText(), StringComparison.Ordinal);
        Assert.Equal(0L, await Count("select count(*) from batches where name = 'dry'"));
    }

    [Theory]
    [InlineData("", "The file is empty")]
    [InlineData("key;prompt;model\nA;b;gpt_image_2\n", "looks ';'-separated")]
    [InlineData("key\tprompt\nA\tb\n", "looks tab-separated")]
    [InlineData("key,description,model\nA,b,gpt_image_2\n", "no 'prompt' column")]
    public async Task ABadFile_IsRefusedWithAClearMessage_AndNothingIsStored(string text, string message)
    {
        var report = await Importer().ImportAsync(Text(text), "bad.csv", Options($"bad-{Guid.NewGuid():N}"), CancellationToken.None);

        Assert.NotNull(report.FileError);
        Assert.Contains(message, report.FileError, StringComparison.Ordinal);
        Assert.Null(report.BatchId);
    }

    [Fact]
    public async Task NonUtf8Bytes_AreRefused_NotTurnedIntoReplacementCharacters()
    {
        var bytes = Encoding.UTF8.GetBytes("key,prompt\nA,a caf").Concat(new byte[] { 0xE9 }).Concat(Encoding.UTF8.GetBytes(" table\n")).ToArray();

        var report = await Importer().ImportAsync(new MemoryStream(bytes), "latin1.csv", Options("latin1"), CancellationToken.None);

        Assert.Contains("not valid UTF-8", report.FileError, StringComparison.Ordinal);
        Assert.Equal(0L, await Count("select count(*) from batches where name = 'latin1'"));
    }

    [Fact]
    public async Task ASemicolonFile_ImportsWhenTheDelimiterIsGiven()
    {
        var report = await Importer().ImportAsync(Text("key;prompt\nA;a lamp, brass\n"), "semi.csv", Options("semi", delimiter: ";"), CancellationToken.None);

        Assert.Equal(1, report.Inserted);
    }

    [Fact]
    public async Task Jsonl_ImportsObjects_ReportsBadLines_AndKeepsOtherFieldsAsMetadata()
    {
        const string jsonl = """
            {"key":"J-1","prompt":"a vase","image_url":["https://cdn.example/v.png"],"collection":"spring"}
            {"key":"J-2","prompt":"a rug",
            {"key":"J-3","prompt":"a fern","model":"seedream_v5_lite","resolution":"2K","web_search":true}

            ["not","an","object"]
            """;

        var report = await Importer().ImportAsync(Text(jsonl), "items.jsonl", Options("jsonl"), CancellationToken.None);

        Assert.Equal(2, report.Inserted);
        Assert.Contains(report.Invalid, p => p.Line == 2 && p.Reason.StartsWith("not valid JSON", StringComparison.Ordinal));
        Assert.Contains(report.Invalid, p => p.Line == 5 && p.Reason.Contains("one JSON object", StringComparison.Ordinal));
        Assert.Equal("spring", JsonDocument.Parse((await Text1("select metadata::text from generation_requests where item_key = 'J-1'"))!)
            .RootElement.GetProperty("collection").GetString());
    }

    private async Task<long> Count(string sql)
    {
        await using var command = _dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<string?> Text1(string sql)
    {
        await using var command = _dataSource.CreateCommand(sql);
        return (string?)await command.ExecuteScalarAsync();
    }

    public void Dispose() => _dataSource.Dispose();
}
