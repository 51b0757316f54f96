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

    /// <summary>
    /// The bytes Set-/Add-GuestContent (and the provider's content writer) write
    /// for pipeline values: bytes as they are with <paramref name="asBytes"/>,
    /// else each value's text followed by \n unless <paramref name="noNewline"/>,
    /// with the encoding's byte-order mark first when <paramref name="withPreamble"/>.
    /// </summary>
    public static byte[] Encode(IEnumerable<object> values, bool asBytes, string? encoding, bool noNewline, bool withPreamble)
    {
        if (asBytes)
        {
            var ms = new MemoryStream();
            foreach (var v in values)
            {
                switch (v)
                {
                    case byte b: ms.WriteByte(b); break;
                    case byte[] a: ms.Write(a); break;
                    case object[] arr: foreach (var x in arr) ms.WriteByte(LanguagePrimitives.ConvertTo<byte>(x)); break;
                    default: ms.WriteByte(LanguagePrimitives.ConvertTo<byte>(v)); break;
                }
            }
            return ms.ToArray();
        }
        var enc = Resolve(encoding);
        var sb = new StringBuilder();
        foreach (var v in values)
        {
            sb.Append(v is string s ? s : LanguagePrimitives.ConvertTo<string>(v));
            if (!noNewline) sb.Append('\n');
        }
        var body = enc.GetBytes(sb.ToString());
        var pre = withPreamble ? enc.GetPreamble() : Array.Empty<byte>();
        if (pre.Length == 0) return body;
        var all = new byte[pre.Length + body.Length];
        pre.CopyTo(all, 0); body.CopyTo(all, pre.Length);
        return all;
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
    private Decoder _decoder;
    private readonly Action<string> _line;
    private readonly StringBuilder _pending = new();
    private char[] _chars = new char[8192];
    private readonly bool _detect;
    private byte[]? _head = Array.Empty<byte>();

    /// <param name="detectBom">When no encoding was asked for: a UTF-8/16/32 byte-order mark picks the encoding.</param>
    public LineSplittingStream(Encoding encoding, Action<string> line, bool detectBom = false)
    {
        _encoding = encoding;
        _decoder = encoding.GetDecoder();
        _line = line;
        _detect = detectBom;
    }

    private Encoding _encoding;

    /// <summary>The encoding a BOM selected (or the one given), and how many BOM bytes to skip.</summary>
    internal static (Encoding Encoding, int Skip) Sniff(ReadOnlySpan<byte> b, Encoding fallback, bool detect)
    {
        if (detect)
        {
            if (b.StartsWith(new byte[] { 0xFF, 0xFE, 0, 0 })) return (Encoding.UTF32, 4);
            if (b.StartsWith(new byte[] { 0, 0, 0xFE, 0xFF })) return (new UTF32Encoding(true, true), 4);
            if (b.StartsWith(new byte[] { 0xEF, 0xBB, 0xBF })) return (new UTF8Encoding(false), 3);
            if (b.StartsWith(new byte[] { 0xFF, 0xFE })) return (Encoding.Unicode, 2);
            if (b.StartsWith(new byte[] { 0xFE, 0xFF })) return (Encoding.BigEndianUnicode, 2);
            return (fallback, 0);
        }
        var pre = fallback.GetPreamble();
        if (pre.Length == 0 && fallback is UTF8Encoding) pre = new byte[] { 0xEF, 0xBB, 0xBF };
        return (fallback, pre.Length > 0 && b.StartsWith(pre) ? pre.Length : 0);
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
        if (_head is not null)
        {
            // Hold the first 4 bytes back until the byte-order mark can be judged.
            var joined = new byte[_head.Length + buffer.Length];
            _head.CopyTo(joined, 0);
            buffer.CopyTo(joined.AsSpan(_head.Length));
            if (joined.Length < 4) { _head = joined; return; }
            _head = null;
            var (enc, skip) = Sniff(joined, _encoding, _detect);
            if (!ReferenceEquals(enc, _encoding)) { _encoding = enc; _decoder = enc.GetDecoder(); }
            Decode(joined.AsSpan(skip));
            return;
        }
        Decode(buffer);
    }

    private void Decode(ReadOnlySpan<byte> buffer)
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
        if (_head is { Length: > 0 } h)
        {
            _head = null;
            var (enc, skip) = Sniff(h, _encoding, _detect);
            if (!ReferenceEquals(enc, _encoding)) { _encoding = enc; _decoder = enc.GetDecoder(); }
            Decode(h.AsSpan(skip));
        }
        if (_pending.Length > 0) { _line(_pending.ToString()); _pending.Clear(); }
    }
}
