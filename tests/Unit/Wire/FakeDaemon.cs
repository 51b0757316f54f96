using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;

namespace GuestFs.Tests.Wire;

/// <summary>What a handler sees of one request.</summary>
public sealed class FakeRequest
{
    public required MessageHeader Header { get; init; }
    public required byte[] Args { get; init; }
    public XdrReader Reader() => new(Args);
}

/// <summary>
/// An in-process stand-in for guestfsd on a real connected socket pair. It speaks
/// the wire protocol as PROTOCOL.md describes the 1.48.6 daemon: launch flag,
/// request validation, replies and ERROR replies, progress messages, FileIn
/// (with both cancellations and the "file upload cancelled" reply) and FileOut
/// (honouring the library's cancel flag). Tests script each procedure.
/// </summary>
public sealed class FakeDaemon : IAsyncDisposable
{
    private readonly Socket _daemonSide;
    private readonly NetworkStream _stream;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public FakeDaemon()
    {
        var (a, b) = SocketPair();
        _daemonSide = a;
        _stream = new NetworkStream(a, ownsSocket: true);
        LibrarySide = new NetworkStream(b, ownsSocket: true);
    }

    /// <summary>The library's end of the connection (give it to a DaemonChannel).</summary>
    public NetworkStream LibrarySide { get; }

    /// <summary>Handlers by procedure number; they return the reply to send.</summary>
    public Dictionary<int, Func<FakeRequest, FakeDaemon, Task<Reply>>> Handlers { get; } = new();

    /// <summary>Every request seen, in order.</summary>
    public List<FakeRequest> Requests { get; } = new();

    /// <summary>
    /// How many times bytes of a further message were already waiting on the socket
    /// when a reply was about to be sent: the library wrote a new request before it
    /// had the previous reply (or a cancel flag, where a test sends one).
    /// </summary>
    public int RequestsBeforeReply => Volatile.Read(ref _requestsBeforeReply);
    private int _requestsBeforeReply;

    public static (Socket, Socket) SocketPair()
    {
        string path = Path.Combine(Path.GetTempPath(), $"fakegfs-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
        var server = listener.Accept();
        File.Delete(path);
        return (server, client);
    }

    public void Start(bool sendLaunchFlag = true)
    {
        _loop = Task.Run(async () =>
        {
            if (sendLaunchFlag) await WriteWordAsync(ProtocolConstants.LaunchFlag);
            try { await ServeAsync(_stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { }
            catch (IOException) { }
        });
    }

    // ------------------------------------------------------------ replies

    public abstract record Reply;
    public sealed record Ok(Action<XdrWriter>? Body = null) : Reply;
    public sealed record Error(string Errno, string Message) : Reply;
    /// <summary>Raw bytes instead of a proper reply (fault injection), then optionally close.</summary>
    public sealed record Raw(byte[] Bytes, bool CloseAfter = false) : Reply;
    /// <summary>Send nothing (the handler already wrote what it wanted).</summary>
    public sealed record None : Reply;

    // ------------------------------------------------------------ wire helpers

    public async Task WriteWordAsync(uint w)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, w);
        await _stream.WriteAsync(b);
    }

    public async Task WriteRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    public async Task SendProgressAsync(FakeRequest req, ulong position, ulong total)
    {
        using var w = new XdrWriter();
        new ProgressMessage(req.Header.Procedure, req.Header.Serial, position, total).Write(w);
        var frame = w.GetFrame().ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(frame, ProtocolConstants.ProgressFlag);
        await _stream.WriteAsync(frame);
    }

    public static byte[] ReplyFrame(MessageHeader request, Reply reply, uint? serialOverride = null, int? procOverride = null, int direction = 1)
    {
        using var w = new XdrWriter();
        var h = new MessageHeader(ProtocolConstants.Program, ProtocolConstants.Version, procOverride ?? request.Procedure,
            direction, serialOverride ?? request.Serial, 0, 0, reply is Error ? 1 : 0);
        h.Write(w);
        if (reply is Ok ok) ok.Body?.Invoke(w);
        if (reply is Error e) { w.WriteString(e.Errno); w.WriteString(e.Message); }
        return w.GetFrame().ToArray();
    }

    public async Task SendReplyAsync(FakeRequest req, Reply reply)
    {
        switch (reply)
        {
            case None: return;
            case Raw raw:
                await _stream.WriteAsync(raw.Bytes);
                if (raw.CloseAfter) { _daemonSide.Shutdown(SocketShutdown.Both); _stop.Cancel(); }
                return;
            default:
                await _stream.WriteAsync(ReplyFrame(req.Header, reply));
                return;
        }
    }

    private async Task<byte[]?> ReadExactAsync(int n, CancellationToken ct)
    {
        var buf = new byte[n];
        int off = 0;
        while (off < n)
        {
            int r = await _stream.ReadAsync(buf.AsMemory(off), ct);
            if (r == 0) return null;
            off += r;
        }
        return buf;
    }

    /// <summary>Reads one length word and what follows; a cancel flag comes back as (true, empty).</summary>
    public async Task<(bool CancelFlag, byte[] Body)> ReadFrameAsync(CancellationToken ct = default)
    {
        var w = await ReadExactAsync(4, ct) ?? throw new EndOfStreamException();
        uint len = BinaryPrimitives.ReadUInt32BigEndian(w);
        if (len == ProtocolConstants.CancelFlag) return (true, Array.Empty<byte>());
        if (len > ProtocolConstants.MessageMax) throw new InvalidDataException($"fake daemon: length {len}");
        var body = await ReadExactAsync((int)len, ct) ?? throw new EndOfStreamException();
        return (false, body);
    }

    /// <summary>Reads one FileIn chunk: (cancel, data).</summary>
    public async Task<(bool Cancel, byte[] Data)> ReadChunkAsync(CancellationToken ct = default)
    {
        while (true)
        {
            var (flag, body) = await ReadFrameAsync(ct);
            if (flag) continue; // a stray cancel flag is ignored
            var r = new XdrReader(body);
            int c = r.ReadInt32();
            var data = r.ReadOpaque(ProtocolConstants.ChunkMax);
            return (c == 1, data);
        }
    }

    /// <summary>Receives a whole upload into memory, as the daemon's receive_file does.</summary>
    public async Task<(byte[] Data, bool CancelledByLibrary)> ReceiveFileAsync(CancellationToken ct = default)
    {
        var ms = new MemoryStream();
        while (true)
        {
            var (cancel, data) = await ReadChunkAsync(ct);
            if (cancel) return (ms.ToArray(), true);
            if (data.Length == 0) return (ms.ToArray(), false);
            ms.Write(data);
        }
    }

    /// <summary>The daemon cancels an incoming file: flag, then drain to the cancel/end chunk.</summary>
    public async Task CancelReceiveAsync(CancellationToken ct = default)
    {
        await WriteWordAsync(ProtocolConstants.CancelFlag);
        while (true)
        {
            var (cancel, data) = await ReadChunkAsync(ct);
            if (cancel || data.Length == 0) return;
        }
    }

    /// <summary>Sends a file as chunks after the OK reply; stops with a cancel chunk if the library sends its flag.</summary>
    public async Task<bool> SendFileAsync(byte[] content, int chunkSize = ProtocolConstants.ChunkMax, Func<int, Task>? beforeChunk = null, int cancelAtChunk = -1)
    {
        int index = 0;
        for (int off = 0; off < content.Length; off += chunkSize, index++)
        {
            if (beforeChunk is not null) await beforeChunk(index);
            if (_daemonSide.Available >= 4)
            {
                var (flag, _) = await ReadFrameAsync();
                if (flag) { await WriteChunkAsync(true, Array.Empty<byte>()); return false; }
            }
            if (index == cancelAtChunk) { await WriteChunkAsync(true, Array.Empty<byte>()); return false; }
            int n = Math.Min(chunkSize, content.Length - off);
            await WriteChunkAsync(false, content.AsSpan(off, n).ToArray());
        }
        await WriteChunkAsync(false, Array.Empty<byte>());
        return true;
    }

    public async Task WriteChunkAsync(bool cancel, byte[] data)
    {
        using var w = new XdrWriter();
        w.WriteInt32(cancel ? 1 : 0);
        w.WriteOpaque(data);
        await _stream.WriteAsync(w.GetFrame());
    }

    private async Task ServeAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var (flag, body) = await ReadFrameAsync(ct);
            if (flag) continue; // a cancel flag between calls changes nothing
            var r = new XdrReader(body);
            var h = MessageHeader.Read(ref r);
            var req = new FakeRequest { Header = h, Args = body.AsSpan(ProtocolConstants.HeaderSize).ToArray() };
            lock (Requests) Requests.Add(req);
            Reply reply;
            if (h.Program != ProtocolConstants.Program) reply = new Error("", $"wrong program ({h.Program})");
            else if (!Handlers.TryGetValue(h.Procedure, out var handler))
                reply = new Error("", $"dispatch_incoming_message: unknown procedure number {h.Procedure}");
            else reply = await handler(req, this);
            if (_daemonSide.Available > 0) Interlocked.Increment(ref _requestsBeforeReply);
            await SendReplyAsync(req, reply);
        }
    }

    /// <summary>Closes the daemon's end (the appliance "dies").</summary>
    public void Kill()
    {
        _stop.Cancel();
        try { _daemonSide.Shutdown(SocketShutdown.Both); } catch { }
        try { _daemonSide.Close(); } catch { }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        if (_loop is not null) { try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)); } catch { } }
        LibrarySide.Dispose();
        _stream.Dispose();
    }
}
