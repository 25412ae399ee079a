using Aireiter.Jobs.Submitting;
using Aireiter.Jobs.Monitoring;
using System.Diagnostics.Metrics;
using Aireiter.Jobs.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using System.Text;
using System.Text.Json;
using Aireiter.Jobs.Batches;
using Aireiter.Jobs.Cluster;
using Aireiter.Jobs.Engine;
using Aireiter.Jobs.Import;
using Aireiter.Jobs.Requests;
using Aireiter.Jobs.Storage;
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
        var contexts = JobsDbContext.CreateFactory(_dataSource);
        var batches = new BatchStore(contexts, TimeProvider.System);
        var enqueuer = new RequestEnqueuer(contexts, batches, options, TimeProvider.System);
        var metrics = new JobsMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>(),
            new OverviewQueries(contexts, options, TimeProvider.System),
            new SubmitPauses(_dataSource, contexts, TimeProvider.System, NullLogger<SubmitPauses>.Instance), options, TimeProvider.System);
        return new CatalogueImporter(contexts, enqueuer, batches, options, metrics, NullLogger<CatalogueImporter>.Instance);
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
    [InlineData("key,prompt,model\n", "a header but no lines")]
    [InlineData("key,prompt,model\n\n  \n", "a header but no lines")]
    [InlineData("\"key,prompt\nA,b\n", "The header line cannot be read")]
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
    public async Task AnUnterminatedQuote_IsReportedOnItsLine_AndTheLinesAfterItAreStillImported()
    {
        const string text = "key,prompt\nA1,a chair\nA2,\"unterminated, lamp\nA3,a table\n\nA4,\"a \"\"quoted\"\" vase\"\nA5,a \"stray quote\nA6,\"two\nlines\"\nA7,\"closed\" text after\n";

        var report = await Importer().ImportAsync(Text(text), "quotes.csv", Options("quotes"), CancellationToken.None);

        Assert.Null(report.FileError);
        Assert.Equal(7, report.Lines);
        Assert.Equal(1, report.BlankLines);
        Assert.Equal(["A1", "A3", "A4", "A6"], await Keys("quotes"));
        Assert.Contains(report.Invalid, p => p is { Line: 3 } && p.Reason.Contains("a quote that is not closed on its line", StringComparison.Ordinal));
        Assert.Contains(report.Invalid, p => p is { Line: 7 } && p.Reason.Contains("a stray quote", StringComparison.Ordinal));
        Assert.Contains(report.Invalid, p => p is { Line: 10 } && p.Reason.Contains("text after a closing quote", StringComparison.Ordinal));
        Assert.Equal(3, report.InvalidCount);
        Assert.Equal("a \"quoted\" vase", await Prompt("quotes", "A4"));
        Assert.Equal("two\nlines", await Prompt("quotes", "A6"));

        var atTheEnd = await Importer().ImportAsync(Text("key,prompt\nC1,a chair\nC2,\"never closed\nC3,a bed\n"), "end.csv", Options("end"),
            CancellationToken.None);
        Assert.Equal(["C1", "C3"], await Keys("end"));
        Assert.Contains(atTheEnd.Invalid, p => p is { Line: 3 } && p.Reason.Contains("a quote that is never closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AQuoteStillOpenAfterAHundredLines_IsReported_AndTheLinesItTookAreReadAgain()
    {
        var lines = string.Join("\n", Enumerable.Range(1, 150).Select(i => $"B{i},a cup number {i}"));
        var text = $"key,prompt\nB0,\"opens here\n{lines}\n";

        var report = await Importer().ImportAsync(Text(text), "open.csv", Options("open"), CancellationToken.None);

        Assert.Equal(151, report.Lines);
        Assert.Equal(1, report.InvalidCount);
        Assert.Equal(150, report.Inserted);
        Assert.Contains(report.Invalid, p => p is { Line: 2 } && p.Reason.Contains("not closed within 100 lines", StringComparison.Ordinal));
    }

    [Fact]
    public async Task APromptOverTheLimit_IsAnInvalidLineThatSaysTheLimit()
    {
        var text = $"key,prompt\nL1,{new string('p', 40_000)}\nL2,a short one\n";

        var report = await Importer().ImportAsync(Text(text), "long.csv", Options("long"), CancellationToken.None);

        Assert.Equal(1, report.Inserted);
        Assert.Contains(report.Invalid, p => p is { Line: 2, Column: "prompt" } && p.Reason.Contains("the limit is 32,000", StringComparison.Ordinal));
    }

    private async Task<List<string>> Keys(string batch)
    {
        await using var command = _dataSource.CreateCommand(
            "select r.item_key from generation_requests r join batches b on b.id = r.batch_id where b.name = @b order by r.item_key");
        command.Parameters.AddWithValue("b", batch);
        await using var reader = await command.ExecuteReaderAsync();
        var keys = new List<string>();
        while (await reader.ReadAsync())
        {
            keys.Add(reader.GetString(0));
        }

        return keys;
    }

    private async Task<string> Prompt(string batch, string key)
    {
        await using var command = _dataSource.CreateCommand(
            "select r.params->>'prompt' from generation_requests r join batches b on b.id = r.batch_id where b.name = @b and r.item_key = @k");
        command.Parameters.AddWithValue("b", batch);
        command.Parameters.AddWithValue("k", key);
        return (string)(await command.ExecuteScalarAsync())!;
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
