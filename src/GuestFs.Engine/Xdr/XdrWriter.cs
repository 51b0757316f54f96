using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;

namespace GuestFs.Engine.Xdr;

/// <summary>
/// RFC 4506 encoder into a growable buffer rented from the shared pool.
/// The first four bytes are reserved for the record length word so a whole
/// frame can be written to the socket in one go (see <see cref="GetFrame"/>).
/// </summary>
public sealed class XdrWriter : IDisposable
{
    private byte[] _buffer;
    private int _pos;
    private readonly int _maxBody;

    /// <param name="maxBodyLength">Largest body (after the length word) this writer may produce.</param>
    public XdrWriter(int initialCapacity = 256, int maxBodyLength = int.MaxValue - 64)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 16));
        _pos = 4; // room for the record length word
        _maxBody = maxBodyLength;
    }

    /// <summary>Number of body bytes written (the length word excluded).</summary>
    public int Length => _pos - 4;

    /// <summary>The encoded body, without the length word.</summary>
    public ReadOnlySpan<byte> Body => _buffer.AsSpan(4, _pos - 4);

    /// <summary>Fills in the big-endian length word and returns length word + body.</summary>
    public ReadOnlyMemory<byte> GetFrame()
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(0, 4), (uint)(_pos - 4));
        return _buffer.AsMemory(0, _pos);
    }

    /// <summary>
    /// Set by an argument writer that puts a secret (a LUKS passphrase) into the
    /// message: every buffer this writer used is wiped before it goes back to the
    /// shared pool, so the secret does not linger in memory other code rents.
    /// </summary>
    public bool Sensitive { get; set; }

    /// <summary>Forget everything written, keeping the buffer.</summary>
    public void Reset() => _pos = 4;

    private Span<byte> Grow(int count)
    {
        if ((long)_pos - 4 + count > _maxBody)
            throw new InvalidOperationException($"XDR message would exceed {_maxBody} bytes");
        if (_pos + count > _buffer.Length)
        {
            int size = Math.Max(_buffer.Length * 2, _pos + count);
            var bigger = ArrayPool<byte>.Shared.Rent(size);
            Buffer.BlockCopy(_buffer, 0, bigger, 0, _pos);
            ArrayPool<byte>.Shared.Return(_buffer, clearArray: Sensitive);
            _buffer = bigger;
        }
        var span = _buffer.AsSpan(_pos, count);
        _pos += count;
        return span;
    }

    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32BigEndian(Grow(4), value);
    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Grow(4), value);
    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64BigEndian(Grow(8), value);
    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64BigEndian(Grow(8), value);
    public void WriteSingle(float value) => BinaryPrimitives.WriteSingleBigEndian(Grow(4), value);
    public void WriteBool(bool value) => WriteInt32(value ? 1 : 0);
    public void WriteChar(char value) => WriteInt32((byte)value);

    /// <summary>Variable-length opaque: length word, bytes, zero padding.</summary>
    public void WriteOpaque(ReadOnlySpan<byte> bytes)
    {
        WriteUInt32((uint)bytes.Length);
        WriteFixedOpaque(bytes);
    }

    /// <summary>Fixed-length opaque: bytes and zero padding, no length word.</summary>
    public void WriteFixedOpaque(ReadOnlySpan<byte> bytes)
    {
        int padded = (bytes.Length + 3) & ~3;
        var span = Grow(padded);
        bytes.CopyTo(span);
        span.Slice(bytes.Length).Clear();
    }

    /// <summary>A secret as <c>string&lt;&gt;</c> (UTF-8 bytes given by the caller); marks the writer <see cref="Sensitive"/>.</summary>
    public void WriteSecretString(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IndexOf((byte)0) >= 0)
            throw new ArgumentException("a secret sent to the daemon cannot contain NUL characters");
        Sensitive = true;
        WriteOpaque(utf8);
    }

    /// <summary><c>string&lt;&gt;</c> as UTF-8 (escaped bytes from <see cref="GuestText"/> as themselves). A string holding NUL cannot be passed to the daemon.</summary>
    public void WriteString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.IndexOf('\0') >= 0)
            throw new ArgumentException("strings sent to the daemon cannot contain NUL characters", nameof(value));
        if (GuestText.HasEscapes(value))
        {
            // A name read from the guest that was not UTF-8: its original bytes.
            WriteOpaque(GuestText.Encode(value));
            return;
        }
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (max <= 1024)
        {
            Span<byte> tmp = stackalloc byte[max];
            int n = Encoding.UTF8.GetBytes(value, tmp);
            WriteOpaque(tmp.Slice(0, n));
        }
        else
        {
            WriteOpaque(Encoding.UTF8.GetBytes(value));
        }
    }

    /// <summary><c>guestfs_str *</c>: 0, or 1 and the string.</summary>
    public void WriteOptionalString(string? value)
    {
        if (value is null) { WriteUInt32(0); return; }
        WriteUInt32(1);
        WriteString(value);
    }

    /// <summary><c>guestfs_str&lt;&gt;</c>: count, then each string.</summary>
    public void WriteStringArray(IReadOnlyList<string>? values)
    {
        if (values is null) { WriteUInt32(0); return; }
        WriteUInt32((uint)values.Count);
        for (int i = 0; i < values.Count; i++) WriteString(values[i]);
    }

    public void Dispose()
    {
        var b = _buffer;
        _buffer = Array.Empty<byte>();
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b, clearArray: Sensitive);
    }
}
