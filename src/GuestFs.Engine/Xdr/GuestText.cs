using System;
using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace GuestFs.Engine.Xdr;

/// <summary>
/// Guest names and strings are bytes, and need not be UTF-8. Valid UTF-8 decodes as usual;
/// each byte of an invalid sequence becomes the lone surrogate U+DC80–U+DCFF (the "surrogate
/// escape" Python uses for file names), and encoding turns such a surrogate back into the same
/// byte. So a name read from the guest, sent back in a later call, reaches the same file, where
/// U+FFFD replacement would name a file that does not exist.
/// </summary>
public static class GuestText
{
    private const char EscapeFirst = '\uDC80', EscapeLast = '\uDCFF';

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return string.Empty;
        if (Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        var sb = new StringBuilder(bytes.Length);
        Span<char> pair = stackalloc char[2];
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out var rune, out int used) == OperationStatus.Done)
            {
                int n = rune.EncodeToUtf16(pair);
                sb.Append(pair[..n]);
                bytes = bytes[used..];
            }
            else
            {
                sb.Append((char)(0xDC00 + bytes[0]));
                bytes = bytes[1..];
            }
        }
        return sb.ToString();
    }

    /// <summary>True when the string holds an escaped byte (a lone U+DC80–U+DCFF).</summary>
    public static bool HasEscapes(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c >= EscapeFirst && c <= EscapeLast && (i == 0 || !char.IsHighSurrogate(s[i - 1]))) return true;
        }
        return false;
    }

    public static byte[] Encode(string s)
    {
        if (!HasEscapes(s)) return Encoding.UTF8.GetBytes(s);
        var buffer = new ArrayBufferWriter<byte>(s.Length + 8);
        ReadOnlySpan<char> rest = s;
        Span<byte> one = stackalloc byte[4];
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(rest, out var rune, out int used) == OperationStatus.Done)
            {
                int n = rune.EncodeToUtf8(one);
                buffer.Write(one[..n]);
                rest = rest[used..];
            }
            else
            {
                char c = rest[0];
                if (c >= EscapeFirst && c <= EscapeLast) buffer.Write(stackalloc byte[] { (byte)(c - 0xDC00) });
                else buffer.Write("\uFFFD"u8);
                rest = rest[1..];
            }
        }
        return buffer.WrittenSpan.ToArray();
    }
}
