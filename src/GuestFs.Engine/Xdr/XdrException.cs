using System;

namespace GuestFs.Engine.Xdr;

/// <summary>
/// Raised when bytes on the wire do not form valid XDR for the type being read
/// (truncated data, a length past the end of the message, non-zero padding,
/// a boolean other than 0/1, a count above its bound). The offset is the byte
/// position inside the message where decoding stopped.
/// </summary>
public sealed class XdrException : Exception
{
    public XdrException(string message, int offset)
        : base($"{message} (at byte {offset} of the message)")
    {
        Offset = offset;
    }

    /// <summary>Byte offset inside the decoded buffer where the problem was found.</summary>
    public int Offset { get; }
}
