using System;
using System.Buffers.Binary;
using System.Text;

namespace GuestFs.Engine.Xdr;

/// <summary>
/// Strict RFC 4506 decoder over one bounded message. Every length is checked
/// against the bytes that are left before anything is sliced or allocated, so
/// a hostile length can never make it allocate more than the message holds.
/// The position advances only after a value has been validated.
/// </summary>
public ref struct XdrReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public XdrReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
    }

    /// <summary>Bytes consumed so far.</summary>
    public readonly int Position => _pos;

    /// <summary>Bytes not yet consumed.</summary>
    public readonly int Remaining => _data.Length - _pos;

    /// <summary>True when every byte has been consumed.</summary>
    public readonly bool AtEnd => _pos == _data.Length;

    /// <summary>Throws unless every byte of the message was consumed.</summary>
    public readonly void EnsureAtEnd(string what)
    {
        if (_pos != _data.Length)
            throw new XdrException($"{Remaining} unexpected trailing bytes after {what}", _pos);
    }

    private readonly void Need(int count, string what)
    {
        if (count < 0 || count > _data.Length - _pos)
            throw new XdrException($"truncated {what}: need {count} bytes, {Remaining} left", _pos);
    }

    public int ReadInt32()
    {
        Need(4, "int");
        int v = BinaryPrimitives.ReadInt32BigEndian(_data.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    public uint ReadUInt32()
    {
        Need(4, "unsigned int");
        uint v = BinaryPrimitives.ReadUInt32BigEndian(_data.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    public long ReadInt64()
    {
        Need(8, "hyper");
        long v = BinaryPrimitives.ReadInt64BigEndian(_data.Slice(_pos, 8));
        _pos += 8;
        return v;
    }

    public ulong ReadUInt64()
    {
        Need(8, "unsigned hyper");
        ulong v = BinaryPrimitives.ReadUInt64BigEndian(_data.Slice(_pos, 8));
        _pos += 8;
        return v;
    }

    public float ReadSingle()
    {
        Need(4, "float");
        float v = BinaryPrimitives.ReadSingleBigEndian(_data.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    public bool ReadBool()
    {
        Need(4, "bool");
        int v = BinaryPrimitives.ReadInt32BigEndian(_data.Slice(_pos, 4));
        if (v != 0 && v != 1)
            throw new XdrException($"bool must be 0 or 1, got {v}", _pos);
        _pos += 4;
        return v == 1;
    }

    /// <summary>rpcgen's <c>char</c>: a whole 4-byte int whose low byte is the value.</summary>
    public char ReadChar()
    {
        Need(4, "char");
        int v = BinaryPrimitives.ReadInt32BigEndian(_data.Slice(_pos, 4));
        if (v < -128 || v > 255)
            throw new XdrException($"char out of range: {v}", _pos);
        _pos += 4;
        return (char)(byte)v;
    }

    /// <summary>Variable-length opaque (<c>opaque&lt;max&gt;</c>) as a view into the message.</summary>
    public ReadOnlySpan<byte> ReadOpaqueSpan(int maxLength = int.MaxValue)
    {
        int start = _pos;
        Need(4, "opaque length");
        uint len = BinaryPrimitives.ReadUInt32BigEndian(_data.Slice(_pos, 4));
        if (len > (uint)maxLength)
            throw new XdrException($"opaque length {len} exceeds its bound {maxLength}", start);
        int padded = Padded(len, start);
        if (padded > _data.Length - _pos - 4)
            throw new XdrException($"opaque length {len} runs past the end of the message ({Remaining - 4} bytes left)", start);
        var body = _data.Slice(_pos + 4, (int)len);
        CheckPadding(_pos + 4 + (int)len, padded - (int)len);
        _pos += 4 + padded;
        return body;
    }

    /// <summary>Variable-length opaque copied into a new array (allocated only after the length is validated).</summary>
    public byte[] ReadOpaque(int maxLength = int.MaxValue) => ReadOpaqueSpan(maxLength).ToArray();

    /// <summary>Fixed-length opaque (<c>opaque[n]</c>): no length word.</summary>
    public ReadOnlySpan<byte> ReadFixedOpaqueSpan(int length)
    {
        int padded = (length + 3) & ~3;
        Need(padded, $"opaque[{length}]");
        var body = _data.Slice(_pos, length);
        CheckPadding(_pos + length, padded - length);
        _pos += padded;
        return body;
    }

    /// <summary>
    /// <c>string&lt;max&gt;</c>. The daemon sends raw bytes; guest file names need not be
    /// UTF-8, so invalid bytes are kept as escapes (<see cref="GuestText"/>) that
    /// <see cref="XdrWriter.WriteString"/> turns back into the same bytes.
    /// Use <see cref="ReadOpaqueSpan"/> to get the raw bytes.
    /// </summary>
    public string ReadString(int maxLength = int.MaxValue)
    {
        var bytes = ReadOpaqueSpan(maxLength);
        return GuestText.Decode(bytes);
    }

    /// <summary><c>guestfs_str *</c>: a presence word then a string.</summary>
    public string? ReadOptionalString()
    {
        int start = _pos;
        Need(4, "optional string presence word");
        uint present = BinaryPrimitives.ReadUInt32BigEndian(_data.Slice(_pos, 4));
        if (present > 1)
            throw new XdrException($"optional presence word must be 0 or 1, got {present}", start);
        _pos += 4;
        return present == 0 ? null : ReadString();
    }

    /// <summary>
    /// Reads an array count and checks it against the bytes left, given the
    /// smallest possible encoded size of one element, so a hostile count
    /// cannot make the caller pre-allocate a huge array.
    /// </summary>
    public int ReadCount(int minElementSize, int maxCount = int.MaxValue)
    {
        int start = _pos;
        Need(4, "array count");
        uint n = BinaryPrimitives.ReadUInt32BigEndian(_data.Slice(_pos, 4));
        if (n > (uint)maxCount)
            throw new XdrException($"array count {n} exceeds its bound {maxCount}", start);
        if (minElementSize > 0 && (ulong)n * (ulong)minElementSize > (ulong)(_data.Length - _pos - 4))
            throw new XdrException($"array count {n} cannot fit in the {Remaining - 4} bytes left", start);
        _pos += 4;
        return (int)n;
    }

    /// <summary><c>guestfs_str&lt;&gt;</c>: a count and then strings.</summary>
    public string[] ReadStringArray()
    {
        int n = ReadCount(4);
        if (n == 0) return Array.Empty<string>();
        var result = new string[n];
        for (int i = 0; i < n; i++) result[i] = ReadString();
        return result;
    }

    private readonly int Padded(uint len, int at)
    {
        if (len > int.MaxValue - 3)
            throw new XdrException($"length {len} is not representable", at);
        return ((int)len + 3) & ~3;
    }

    private readonly void CheckPadding(int at, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (_data[at + i] != 0)
                throw new XdrException("non-zero XDR padding byte", at + i);
        }
    }
}
