using System;
using System.IO;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Protocol;

/// <summary>Decodes the return value of a reply body.</summary>
public delegate T ReplyDecoder<T>(ref XdrReader reader);

/// <summary>
/// The file part of a FileIn or FileOut call: where upload bytes come from,
/// or where download bytes go.
/// </summary>
public sealed class FileTransfer
{
    private FileTransfer(Stream stream, bool upload, long progressHint)
    {
        Stream = stream;
        IsUpload = upload;
        ProgressHint = progressHint;
    }

    public Stream Stream { get; }
    public bool IsUpload { get; }

    /// <summary>Total bytes announced in the request header (0 when unknown, such as a pipe).</summary>
    public long ProgressHint { get; }

    /// <summary>Bytes moved so far (updated as chunks go by).</summary>
    public long BytesTransferred { get; internal set; }

    /// <summary>Raised on the transfer's thread after each chunk with the running byte count.</summary>
    public Action<long>? ChunkProgress { get; init; }

    public static FileTransfer Upload(Stream source, long progressHint = -1)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (progressHint < 0)
        {
            progressHint = 0;
            try { if (source.CanSeek) progressHint = Math.Max(0, source.Length - source.Position); }
            catch (NotSupportedException) { }
        }
        return new FileTransfer(source, true, progressHint);
    }

    public static FileTransfer Download(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return new FileTransfer(destination, false, 0);
    }

    public static FileTransfer Upload(Stream source, long progressHint, Action<long>? chunkProgress) =>
        new(source, true, progressHint < 0 ? 0 : progressHint) { ChunkProgress = chunkProgress };

    public static FileTransfer Download(Stream destination, Action<long>? chunkProgress) =>
        new(destination, false, 0) { ChunkProgress = chunkProgress };
}

/// <summary>Everything needed to make one daemon call.</summary>
public readonly struct RpcRequest
{
    public RpcRequest(int procedure, string name, ulong optargs = 0, Action<XdrWriter>? writeArgs = null)
    {
        Procedure = procedure;
        Name = name;
        Optargs = optargs;
        WriteArgs = writeArgs;
    }

    public int Procedure { get; }
    public string Name { get; }
    public ulong Optargs { get; }
    public Action<XdrWriter>? WriteArgs { get; }
}
