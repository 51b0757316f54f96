namespace GuestFs.Engine.Protocol;

/// <summary>Wire constants of the libguestfs 1.48.6 daemon protocol (all big-endian XDR).</summary>
public static class ProtocolConstants
{
    public const uint Program = 0x2000F5F5;
    public const uint Version = 4;

    /// <summary>Bare word the daemon sends once when it is ready.</summary>
    public const uint LaunchFlag = 0xF5F55FF5;

    /// <summary>Bare word either side sends to stop a file transfer.</summary>
    public const uint CancelFlag = 0xFFFFEEEE;

    /// <summary>Word announcing a fixed 24-byte progress body (no length word).</summary>
    public const uint ProgressFlag = 0xFFFF5555;

    /// <summary>Largest legal length word (header + body, the length word itself excluded).</summary>
    public const int MessageMax = 4 * 1024 * 1024;

    /// <summary>Largest data payload of one file chunk.</summary>
    public const int ChunkMax = 8192;

    public const int ErrorMessageMax = 65536;
    public const int ErrnoStringMax = 32;
    public const int HeaderSize = 40;
    public const int ProgressSize = 24;

    /// <summary>First request serial, as the C library uses.</summary>
    public const uint FirstSerial = 0x00123400;

    public const int DirectionCall = 0;
    public const int DirectionReply = 1;
    public const int StatusOk = 0;
    public const int StatusError = 1;
}
