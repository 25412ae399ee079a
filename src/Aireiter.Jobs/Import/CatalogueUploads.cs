using Microsoft.Extensions.DependencyInjection;
using Aireiter.Jobs.Storage;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Aireiter.Jobs.Import;

/// <summary>How an uploaded catalogue is to be read: what the API call said, kept with the file.</summary>
public sealed record UploadSettings(ImportFormat Format, Dictionary<string, string> Defaults, string? Delimiter, bool Strict);

/// <summary>An upload as the API reports it.</summary>
public sealed record UploadInfo(long Id, string Batch, string FileName, long SizeBytes, string? JobId, DateTimeOffset CreatedAt,
    DateTimeOffset? ImportedAt, JsonElement? Report);

/// <summary>
/// Uploaded catalogues (tables <c>catalogue_uploads</c> and <c>catalogue_upload_chunks</c>): stored in one
/// transaction as they arrive, read back as a stream by whichever node imports them, emptied once imported.
/// </summary>
public sealed class CatalogueUploads([FromKeyedServices(JobsDatabase.Key)] NpgsqlDataSource dataSource)
{
    private const int ChunkBytes = 1 << 20;

    public async Task<long> StoreAsync(Stream body, string batch, string fileName, UploadSettings settings, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long id;
        await using (var insert = new NpgsqlCommand("""
            insert into catalogue_uploads (batch_name, file_name, settings, size_bytes) values (@batch, @file, @settings::jsonb, 0) returning id
            """, connection, transaction))
        {
            insert.Parameters.AddWithValue("batch", batch);
            insert.Parameters.AddWithValue("file", fileName);
            insert.Parameters.AddWithValue("settings", JsonSerializer.Serialize(settings));
            id = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
        }

        var buffer = new byte[ChunkBytes];
        long size = 0;
        for (var seq = 0; ; seq++)
        {
            var filled = await body.ReadAtLeastAsync(buffer, ChunkBytes, throwOnEndOfStream: false, cancellationToken);
            if (filled == 0)
            {
                break;
            }

            await using var chunk = new NpgsqlCommand("insert into catalogue_upload_chunks (upload_id, seq, data) values (@id, @seq, @data)", connection, transaction);
            chunk.Parameters.AddWithValue("id", id);
            chunk.Parameters.AddWithValue("seq", seq);
            chunk.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Bytea) { Value = new ArraySegment<byte>(buffer, 0, filled) });
            await chunk.ExecuteNonQueryAsync(cancellationToken);
            size += filled;
        }

        await using (var update = new NpgsqlCommand("update catalogue_uploads set size_bytes = @size where id = @id", connection, transaction))
        {
            update.Parameters.AddWithValue("size", size);
            update.Parameters.AddWithValue("id", id);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return id;
    }

    public async Task SetJobAsync(long id, string jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("update catalogue_uploads set job_id = @job where id = @id");
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("id", id);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<(UploadInfo Info, UploadSettings Settings)?> FindAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            select id, batch_name, file_name, size_bytes, job_id, created_at, imported_at, report::text, settings::text
            from catalogue_uploads where id = @id
            """);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var report = reader.IsDBNull(7) ? (JsonElement?)null : JsonDocument.Parse(reader.GetString(7)).RootElement.Clone();
        var info = new UploadInfo(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3),
            reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetFieldValue<DateTimeOffset>(5),
            reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6), report);
        return (info, JsonSerializer.Deserialize<UploadSettings>(reader.GetString(8))!);
    }

    /// <summary>The stored file, read chunk by chunk as the importer asks for it.</summary>
    public Stream Open(long id) => new ChunkStream(dataSource, id);

    /// <summary>Records the import's report and frees the file's chunks; false when another run recorded it first.</summary>
    public async Task<bool> MarkImportedAsync(long id, string report, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with marked as (
                update catalogue_uploads set imported_at = @at, report = @report::jsonb where id = @id and imported_at is null returning id
            ), freed as (
                delete from catalogue_upload_chunks where upload_id in (select id from marked)
            )
            select count(*) from marked
            """);
        command.Parameters.AddWithValue("at", at);
        command.Parameters.AddWithValue("report", report);
        command.Parameters.AddWithValue("id", id);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))! == 1;
    }

    private sealed class ChunkStream(NpgsqlDataSource dataSource, long id) : Stream
    {
        private byte[] _chunk = [];
        private int _offset;
        private int _next;
        private bool _done;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_offset == _chunk.Length)
            {
                if (_done)
                {
                    return 0;
                }

                await using var command = dataSource.CreateCommand("select data from catalogue_upload_chunks where upload_id = @id and seq = @seq");
                command.Parameters.AddWithValue("id", id);
                command.Parameters.AddWithValue("seq", _next++);
                var data = await command.ExecuteScalarAsync(cancellationToken) as byte[];
                _done = data is null;
                (_chunk, _offset) = (data ?? [], 0);
            }

            var count = Math.Min(buffer.Length, _chunk.Length - _offset);
            _chunk.AsMemory(_offset, count).CopyTo(buffer);
            _offset += count;
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
