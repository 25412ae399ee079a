using Npgsql;

namespace Aireiter.Jobs.Storage;

/// <summary>Reads a column that may be null, by name: one way for every statement the engine reads row by row.</summary>
public static class ReaderColumns
{
    public static string? GetStringOrNull(this NpgsqlDataReader reader, string column)
    {
        var ordinal = reader.GetOrdinal(column);
        return reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
    }

    public static T? GetValueOrNull<T>(this NpgsqlDataReader reader, string column) where T : struct
    {
        var ordinal = reader.GetOrdinal(column);
        return reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<T>(ordinal);
    }
}
