using System.Runtime.CompilerServices;
using System.Text;

namespace Aireiter.Jobs.Import;

/// <summary>One CSV record: its fields, or why it could not be read. <see cref="Line"/> is its first physical line.</summary>
public sealed record CsvRecord(long Line, IReadOnlyList<string> Fields, string? Problem)
{
    public bool IsBlank => Problem is null && Fields.Count == 0;
}

/// <summary>
/// Reads CSV (RFC 4180: quoted values may hold separators, doubled quotes and line breaks; spaces around
/// values are trimmed) so that every physical line is accounted for. A quote that is never closed does not
/// swallow the rest of the file: its line is reported, and the lines after it are read again on their own.
/// A quoted value may span at most <see cref="MaxLinesPerRecord"/> lines, which also bounds memory, and only
/// when the record it ends is sound (no stray quote, the header's number of fields): otherwise the quote is
/// taken to be a mistake on its own line, and the lines it would have joined are read again on their own.
/// </summary>
public sealed class CsvRecords(TextReader reader, char separator)
{
    public const int MaxLinesPerRecord = 100;

    /// <summary>The header's number of fields, once known; a record spanning lines must have exactly as many.</summary>
    public int ExpectedFields { get; set; }

    public async IAsyncEnumerable<CsvRecord> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Lines read ahead while looking for a closing quote that never came; they are read again from here.
        var again = new LinkedList<(long Line, string Text)>();
        long lineNumber = 0;

        async ValueTask<(long Line, string Text)?> NextLine()
        {
            if (again.First is { } first)
            {
                again.RemoveFirst();
                return first.Value;
            }

            return await reader.ReadLineAsync(cancellationToken) is { } text ? (++lineNumber, text) : null;
        }

        while (await NextLine() is var (line, text))
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                yield return new CsvRecord(line, [], null);
                continue;
            }

            var parser = new Parser(separator);
            var spanned = new List<(long Line, string Text)>();
            var state = parser.Feed(text);
            while (state == Parser.State.InsideQuotes && spanned.Count < MaxLinesPerRecord - 1 && await NextLine() is { } next)
            {
                spanned.Add(next);
                state = parser.Feed("\n" + next.Text);
            }

            var unsound = spanned.Count > 0 && (parser.Problem is not null || (ExpectedFields > 0 && parser.Fields.Count != ExpectedFields));
            if (state == Parser.State.InsideQuotes || unsound)
            {
                // Give back the lines it took: they are records of their own.
                for (var i = spanned.Count - 1; i >= 0; i--)
                {
                    again.AddFirst(spanned[i]);
                }

                yield return new CsvRecord(line, [], state != Parser.State.InsideQuotes
                    ? $"a quote that is not closed on its line, and the lines after it do not close it cleanly ({parser.Problem ?? $"{parser.Fields.Count} fields"})"
                    : spanned.Count == MaxLinesPerRecord - 1 ? $"a quote that is not closed within {MaxLinesPerRecord} lines" : "a quote that is never closed");
                continue;
            }

            yield return new CsvRecord(line, parser.Fields, parser.Problem);
        }
    }

    /// <summary>The fields of one record, fed one physical line at a time.</summary>
    private sealed class Parser(char separator)
    {
        public enum State
        {
            Done,
            InsideQuotes,
        }

        private readonly StringBuilder _field = new();
        private bool _quoted;      // the current value started with a quote
        private bool _inside;      // between its opening and closing quote
        private bool _closed;      // its closing quote has been seen
        private bool _started;     // anything but leading spaces seen in the current value

        public List<string> Fields { get; } = [];
        public string? Problem { get; private set; }

        public State Feed(string text)
        {
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (_inside)
                {
                    if (c != '"')
                    {
                        _field.Append(c);
                    }
                    else if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        _field.Append('"');
                        i++;
                    }
                    else
                    {
                        _inside = false;
                        _closed = true;
                    }

                    continue;
                }

                if (c == separator)
                {
                    EndField();
                    continue;
                }

                if (_closed)
                {
                    if (!char.IsWhiteSpace(c))
                    {
                        Problem ??= "text after a closing quote (quote the whole value, and double any quote inside it)";
                    }

                    continue;
                }

                if (c == '"')
                {
                    if (_started)
                    {
                        Problem ??= "a stray quote inside a value (quote the whole value, and double any quote inside it)";
                        _field.Append(c);
                        continue;
                    }

                    _quoted = _inside = _started = true;
                    continue;
                }

                if (!_started && char.IsWhiteSpace(c))
                {
                    continue;
                }

                _started = true;
                _field.Append(c);
            }

            if (_inside)
            {
                return State.InsideQuotes;
            }

            EndField();
            return State.Done;
        }

        private void EndField()
        {
            Fields.Add(_quoted ? _field.ToString() : _field.ToString().TrimEnd());
            _field.Clear();
            _quoted = _inside = _closed = _started = false;
        }
    }
}
