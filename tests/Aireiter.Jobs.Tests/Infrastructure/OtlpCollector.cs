using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Aireiter.Jobs.Tests.Infrastructure;

/// <summary>One exported span, as a collector sees it (ids in hex; string attributes only).</summary>
public sealed record ExportedSpan(string Scope, string TraceId, string SpanId, string ParentSpanId, string Name,
    IReadOnlyDictionary<string, string> Attributes);

/// <summary>One export as it arrived: its signal (<c>traces</c>, <c>metrics</c>, <c>logs</c>) and its raw bytes.</summary>
public sealed record OtlpExport(string Signal, byte[] Bytes)
{
    /// <summary>The bytes read as Latin-1, so names and string values can be searched for.</summary>
    public string Text => Encoding.Latin1.GetString(Bytes);
}

/// <summary>
/// A real OTLP/HTTP (protobuf) collector on loopback: keeps every export's raw bytes and reads the spans out of
/// <c>/v1/traces</c> with a small protobuf reader (the fields of the OTLP trace messages this test needs).
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpCollector(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public ConcurrentQueue<ExportedSpan> Spans { get; } = new();

    public ConcurrentQueue<OtlpExport> Exports { get; } = new();

    public static async Task<OtlpCollector> StartAsync()
    {
        OtlpCollector? collector = null;
        var (app, address) = await LoopbackServer.StartAsync(app => app.MapPost("/v1/{signal}", async (string signal, HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var bytes = body.ToArray();
            collector!.Exports.Enqueue(new OtlpExport(signal, bytes));
            if (signal == "traces")
            {
                foreach (var span in ReadSpans(bytes))
                {
                    collector.Spans.Enqueue(span);
                }
            }

            return Results.Bytes([], "application/x-protobuf");
        }));
        collector = new OtlpCollector(app, address);
        return collector;
    }

    // ExportTraceServiceRequest.resource_spans = 1 → ResourceSpans.scope_spans = 2 → ScopeSpans { scope = 1 (name = 1), spans = 2 }.
    private static IEnumerable<ExportedSpan> ReadSpans(byte[] request) =>
        from resource in Fields(request).Where(f => f.Number == 1)
        from scopeSpans in Fields(resource.Bytes).Where(f => f.Number == 2)
        let scope = Text(Fields(scopeSpans.Bytes).FirstOrDefault(f => f.Number == 1).Bytes, 1)
        from span in Fields(scopeSpans.Bytes).Where(f => f.Number == 2)
        select ReadSpan(scope, span.Bytes);

    // Span: trace_id = 1, span_id = 2, parent_span_id = 4, name = 5, attributes = 9 (KeyValue: key = 1, value = 2 (AnyValue: string = 1)).
    private static ExportedSpan ReadSpan(string scope, byte[] span)
    {
        var fields = Fields(span).ToList();
        byte[] Of(int number) => fields.FirstOrDefault(f => f.Number == number).Bytes ?? [];
        var attributes = new Dictionary<string, string>();
        foreach (var pair in fields.Where(f => f.Number == 9))
        {
            var kv = Fields(pair.Bytes).ToList();
            var key = Encoding.UTF8.GetString(kv.FirstOrDefault(f => f.Number == 1).Bytes ?? []);
            var value = kv.FirstOrDefault(f => f.Number == 2).Bytes ?? [];
            attributes[key] = Text(value, 1);
        }

        return new ExportedSpan(scope, Convert.ToHexStringLower(Of(1)), Convert.ToHexStringLower(Of(2)), Convert.ToHexStringLower(Of(4)),
            Encoding.UTF8.GetString(Of(5)), attributes);
    }

    private static string Text(byte[]? message, int number) =>
        message is null ? "" : Encoding.UTF8.GetString(Fields(message).FirstOrDefault(f => f.Number == number).Bytes ?? []);

    /// <summary>A message's fields: number and, for length-delimited ones, their bytes (other wire types are skipped).</summary>
    private static IEnumerable<(int Number, byte[] Bytes)> Fields(byte[] message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = Varint(message, ref position);
            var number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    Varint(message, ref position);
                    break;
                case 1:
                    position += 8;
                    break;
                case 5:
                    position += 4;
                    break;
                case 2:
                    var length = (int)Varint(message, ref position);
                    yield return (number, message[position..(position + length)]);
                    position += length;
                    break;
                default:
                    throw new InvalidDataException($"Unexpected protobuf wire type {tag & 7} at byte {position}.");
            }
        }
    }

    private static ulong Varint(byte[] bytes, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
