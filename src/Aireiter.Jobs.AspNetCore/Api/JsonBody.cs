using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>
/// Reads a JSON request body strictly: JSON content type, valid UTF-8 (bytes that are not are refused, never
/// replaced), no key given twice in one object. The body-size limit (<see cref="AccessOptions.MaxBodyBytes"/>)
/// applies while it is read; going over it ends in a 413 (<see cref="ProblemResponses"/>).
/// </summary>
public static class JsonBody
{
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false, MaxDepth = 64 };

    public static async Task<(JsonNode? Node, ProblemHttpResult? Problem)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
        {
            return (null, TypedResults.Problem(
                $"Send the body as JSON with 'Content-Type: application/json' (it was '{request.ContentType ?? "not set"}').",
                statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type"));
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);

        if (Utf8.FirstInvalidByte(bytes.Span) is { } offset)
        {
            return (null, BadRequest($"The body is not valid UTF-8 (byte {offset:N0} of {bytes.Length:N0}): send JSON encoded as UTF-8. Nothing was stored."));
        }

        try
        {
            return (JsonNode.Parse(bytes.Span, documentOptions: Strict), null);
        }
        catch (JsonException ex)
        {
            return (null, BadRequest($"The body is not valid JSON: {ex.Message}"));
        }
    }

    public static ProblemHttpResult BadRequest(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Bad request");

    private static class Utf8
    {
        /// <summary>The offset of the first byte that is not part of valid UTF-8, or null when all of it is.</summary>
        public static int? FirstInvalidByte(ReadOnlySpan<byte> bytes)
        {
            if (System.Text.Unicode.Utf8.IsValid(bytes))
            {
                return null;
            }

            var chars = ArrayPool<char>.Shared.Rent(Math.Min(bytes.Length, 4096));
            try
            {
                var read = 0;
                while (read < bytes.Length)
                {
                    var status = System.Text.Unicode.Utf8.ToUtf16(bytes[read..], chars, out var consumed, out _, replaceInvalidSequences: false);
                    read += consumed;
                    if (status == OperationStatus.InvalidData || status == OperationStatus.NeedMoreData)
                    {
                        return read;
                    }
                }

                return read;
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
        }
    }
}
