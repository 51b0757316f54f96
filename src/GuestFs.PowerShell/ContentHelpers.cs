using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Text;

namespace GuestFs.PowerShell;

/// <summary>Encoding names accepted by the content cmdlets (the FileSystem provider's set).</summary>
internal static class ContentEncoding
{
    public static readonly string[] Names =
        { "utf8", "utf8NoBOM", "utf8BOM", "ascii", "unicode", "bigendianunicode", "utf32", "bigendianutf32", "latin1", "oem", "default" };

    public static Encoding Resolve(string? name)
    {
        switch ((name ?? "utf8NoBOM").ToLowerInvariant())
        {
            case "utf8": case "utf8nobom": case "default": case "oem": return new UTF8Encoding(false);
            case "utf8bom": return new UTF8Encoding(true);
            case "ascii": return Encoding.ASCII;
            case "unicode": return Encoding.Unicode;
            case "bigendianunicode": return Encoding.BigEndianUnicode;
            case "utf32": return Encoding.UTF32;
            case "bigendianutf32": return new UTF32Encoding(true, true);
            case "latin1": return Encoding.Latin1;
        }
        try { return Encoding.GetEncoding(name!); }
        catch (ArgumentException)
        {
            throw new ArgumentException($"'{name}' is not a known encoding; use one of {string.Join(", ", Names)} or a code page name");
        }
    }
}

/// <summary>Completes -Encoding values.</summary>
public sealed class EncodingCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, System.Collections.IDictionary fakeBoundParameters)
    {
        foreach (var n in ContentEncoding.Names)
            if (n.StartsWith(wordToComplete ?? "", StringComparison.OrdinalIgnoreCase))
                yield return new CompletionResult(n);
    }
}

/// <summary>
/// A write-only stream that decodes text as it arrives and hands out whole
/// lines (split on \n, one trailing \r dropped), so Get-GuestContent can emit
/// lines while the download is still running.
/// </summary>
internal sealed class LineSplittingStream : Stream
{
    private readonly Decoder _decoder;
    private readonly Action<string> _line;
    private readonly StringBuilder _pending = new();
    private char[] _chars = new char[8192];

    public LineSplittingStream(Encoding encoding, Action<string> line)
    {
        _decoder = encoding.GetDecoder();
        _line = line;
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Flush() { }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int max = _decoder.GetCharCount(buffer, flush: false);
        if (_chars.Length < max) _chars = new char[max];
        int n = _decoder.GetChars(buffer, _chars, flush: false);
        for (int i = 0; i < n; i++)
        {
            char c = _chars[i];
            if (c == '\n')
            {
                if (_pending.Length > 0 && _pending[^1] == '\r') _pending.Length--;
                _line(_pending.ToString());
                _pending.Clear();
            }
            else _pending.Append(c);
        }
    }

    public override System.Threading.Tasks.ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, System.Threading.CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return default;
    }

    /// <summary>Emits the last line if the file did not end with a newline.</summary>
    public void Finish()
    {
        if (_pending.Length > 0) { _line(_pending.ToString()); _pending.Clear(); }
    }
}
