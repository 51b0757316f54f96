using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation.Provider;
using System.Text;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Provider;

/// <summary>
/// Get-Content on a GuestFs drive: the file is read in 1 MiB pread pieces as
/// PowerShell asks for lines, so Get-Content -TotalCount 5 on a large log
/// transfers one piece. Lines split on \n (one trailing \r dropped), as
/// Get-GuestContent does; -Raw gives one string, -AsByteStream bytes.
/// </summary>
internal sealed class GuestContentReader : IContentReader
{
    internal const int PieceSize = 1 << 20;

    private readonly GuestSession _session;
    private readonly string _path;
    private readonly long _size;
    private readonly Encoding _encoding;
    private readonly bool _detectBom, _raw, _bytes;
    private readonly Queue<string> _lines = new();
    private LineSplittingStream? _splitter;
    private byte[] _piece = Array.Empty<byte>();
    private int _piecePos;
    private long _offset;
    private bool _eof, _rawDone;

    public GuestContentReader(GuestSession session, string guestPath, long size, Encoding encoding, bool detectBom, bool raw, bool bytes)
    {
        _session = session;
        _path = guestPath;
        _size = size;
        _encoding = encoding;
        _detectBom = detectBom;
        _raw = raw;
        _bytes = bytes;
    }

    /// <summary>The next piece of the file, or null at its end (the size lstat reported).</summary>
    private byte[]? NextPiece()
    {
        if (_eof) return null;
        if (_offset >= _size) { _eof = true; return null; }
        int want = (int)Math.Min(PieceSize, _size - _offset);
        var part = _session.PreadAsync(_path, want, _offset).GetAwaiter().GetResult();
        if (part.Length == 0) { _eof = true; return null; }
        _offset += part.Length;
        return part;
    }

    private byte[] ReadRest()
    {
        using var ms = new MemoryStream();
        while (NextPiece() is { } p) ms.Write(p);
        return ms.ToArray();
    }

    public IList Read(long readCount)
    {
        if (_raw)
        {
            if (_rawDone) return Array.Empty<object>();
            _rawDone = true;
            var all = ReadRest();
            if (all.Length == 0) return Array.Empty<object>();
            if (_bytes) return new object[] { all };
            var (enc, skip) = LineSplittingStream.Sniff(all, _encoding, _detectBom);
            return new object[] { enc.GetString(all, skip, all.Length - skip) };
        }
        var result = new List<object>();
        if (_bytes)
        {
            while (readCount <= 0 || result.Count < readCount)
            {
                if (_piecePos >= _piece.Length)
                {
                    if (NextPiece() is not { } p) break;
                    _piece = p;
                    _piecePos = 0;
                    continue;
                }
                result.Add(_piece[_piecePos++]);
            }
            return result;
        }
        _splitter ??= new LineSplittingStream(_encoding, _lines.Enqueue, _detectBom);
        while ((readCount <= 0 || _lines.Count < readCount) && !_eof)
        {
            if (NextPiece() is { } p) _splitter.Write(p, 0, p.Length);
            else _splitter.Finish();
        }
        while (_lines.Count > 0 && (readCount <= 0 || result.Count < readCount)) result.Add(_lines.Dequeue());
        return result;
    }

    public void Seek(long offset, SeekOrigin origin)
    {
        if (offset != 0 || origin != SeekOrigin.Begin)
            throw new NotSupportedException("A GuestFs content reader can only go back to the start of the file.");
        _offset = 0;
        _eof = _rawDone = false;
        _lines.Clear();
        _splitter = null;
        _piece = Array.Empty<byte>();
        _piecePos = 0;
    }

    public void Close() { }

    public void Dispose() { }
}

/// <summary>
/// Set-Content and Add-Content on a GuestFs drive: values are gathered and
/// written with one call when PowerShell closes the writer (write, or
/// write_append once Add-Content has asked for the end of the file; uploads
/// above 2 MiB).
/// </summary>
internal sealed class GuestContentWriter : IContentWriter
{
    private readonly GuestDisk _disk;
    private readonly string _path;
    private readonly string? _encoding;
    private readonly bool _noNewline, _bytes;
    private readonly List<object> _values = new();
    private bool _append, _closed;

    public GuestContentWriter(GuestDisk disk, string guestPath, string? encoding, bool noNewline, bool bytes)
    {
        _disk = disk;
        _path = guestPath;
        _encoding = encoding;
        _noNewline = noNewline;
        _bytes = bytes;
        // Fail now rather than after the pipeline has run.
        if (!bytes) ContentEncoding.Resolve(encoding);
    }

    public IList Write(IList content)
    {
        foreach (var v in content)
            if (v is not null) _values.Add(v is System.Management.Automation.PSObject p ? p.BaseObject : v);
        return content;
    }

    public void Seek(long offset, SeekOrigin origin)
    {
        // Add-Content seeks to the end before writing: that makes this an append.
        if (offset == 0 && origin == SeekOrigin.End) _append = true;
        else if (offset == 0 && origin == SeekOrigin.Begin) _append = false;
        else throw new NotSupportedException("A GuestFs content writer can only write from the start or append at the end.");
    }

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        var bytes = ContentEncoding.Encode(_values, _bytes, _encoding, _noNewline, withPreamble: !_append);
        try
        {
            if (_append) _disk.Session.WriteAppendAsync(_path, bytes).GetAwaiter().GetResult();
            else _disk.Session.WriteAsync(_path, bytes).GetAwaiter().GetResult();
        }
        finally
        {
            _disk.Cache.Invalidate();
        }
    }

    public void Dispose() { }
}
