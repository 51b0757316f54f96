using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace GuestFs.Engine.Remote;

/// <summary>
/// A read-only NBD server on a unix socket (fixed newstyle handshake, simple replies) that
/// serves one <see cref="IRemoteFile"/>. qemu connects to it with its nbd driver, so a file
/// on an http(s) or ftp(s) server reaches the appliance through code of ours that retries,
/// times out and never waits on a socket event that does not come, instead of through qemu's
/// curl driver. Reads run concurrently (qemu keeps several in flight); replies are written
/// one at a time. Writes are refused with EPERM: the export says it is read-only.
/// </summary>
internal sealed class NbdExportServer : IAsyncDisposable
{
    private const ulong NbdMagic = 0x4e42444d41474943;      // "NBDMAGIC"
    private const ulong OptionMagic = 0x49484156454F5054;   // "IHAVEOPT"
    private const ulong OptionReplyMagic = 0x3e889045565a9;
    private const uint RequestMagic = 0x25609513;
    private const uint SimpleReplyMagic = 0x67446698;
    private const ushort FlagFixedNewstyle = 1, FlagNoZeroes = 2;
    private const uint OptExportName = 1, OptAbort = 2, OptInfo = 6, OptGo = 7;
    private const uint RepAck = 1, RepInfo = 3, RepErrUnsup = 0x80000001, RepErrPolicy = 0x80000002, RepErrInvalid = 0x80000003;
    private const ushort InfoExport = 0, InfoBlockSize = 3;
    private const ushort TxHasFlags = 1, TxReadOnly = 2, TxCanMultiConn = 1 << 8;
    private const ushort CmdRead = 0, CmdDisc = 2, CmdFlush = 3;
    private const uint EPerm = 1, EIO = 5, EInval = 22;
    private const uint MaxRequest = 32 * 1024 * 1024;
    private const int ParallelReads = 4;

    private readonly IRemoteFile _file;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _clients = new();
    private readonly Task _acceptLoop;
    private readonly Action<string>? _log;

    private NbdExportServer(IRemoteFile file, string socketPath, Action<string>? log)
    {
        _file = file;
        _log = log;
        SocketPath = socketPath;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            _listener.Listen(8);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>
    /// The size the export announces: the file's size rounded up to whole 512-byte sectors,
    /// the tail read as zeros. qemu 7.2's NBD client, given simple replies, expects a read
    /// of an unaligned last sector to carry the whole sector and loses step otherwise.
    /// </summary>
    private ulong ExportLength => ((ulong)_file.Length + 511) & ~511UL;

    /// <summary>The unix socket qemu connects to (nbd+unix://?socket=…).</summary>
    public string SocketPath { get; }

    /// <summary>Serves <paramref name="file"/> on a new unix socket at <paramref name="socketPath"/> (0600).</summary>
    public static NbdExportServer Start(IRemoteFile file, string socketPath, Action<string>? log = null) => new(file, socketPath, log);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception) { return; }
            lock (_clients) _clients.Add(client);
            _ = Task.Run(async () =>
            {
                try { await ServeAsync(client).ConfigureAwait(false); }
                catch (Exception e)
                {
                    if (!_stop.IsCancellationRequested) _log?.Invoke($"nbd bridge for {_file.Display}: connection ended: {e.GetType().Name}: {e.Message}");
                }
                finally
                {
                    lock (_clients) _clients.Remove(client);
                    client.Dispose();
                }
            });
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var ct = _stop.Token;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        var buf = new byte[28];
        // Handshake: magic, option magic, handshake flags; the client answers with its flags.
        BinaryPrimitives.WriteUInt64BigEndian(buf, NbdMagic);
        BinaryPrimitives.WriteUInt64BigEndian(buf.AsSpan(8), OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(16), FlagFixedNewstyle | FlagNoZeroes);
        await stream.WriteAsync(buf.AsMemory(0, 18), ct).ConfigureAwait(false);
        await stream.ReadExactlyAsync(buf.AsMemory(0, 4), ct).ConfigureAwait(false);
        bool noZeroes = (BinaryPrimitives.ReadUInt32BigEndian(buf) & FlagNoZeroes) != 0;
        ushort txFlags = TxHasFlags | TxReadOnly | TxCanMultiConn;

        // Options until one of them starts the transmission phase.
        while (true)
        {
            await stream.ReadExactlyAsync(buf.AsMemory(0, 16), ct).ConfigureAwait(false);
            if (BinaryPrimitives.ReadUInt64BigEndian(buf) != OptionMagic) return;
            uint option = BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(8));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(12));
            if (length > 65536) return;
            var data = new byte[length];
            await stream.ReadExactlyAsync(data, ct).ConfigureAwait(false);
            switch (option)
            {
                case OptExportName:
                {
                    // Old-style start: size, flags, and (unless NO_ZEROES) 124 zero bytes.
                    var reply = new byte[noZeroes ? 10 : 134];
                    BinaryPrimitives.WriteUInt64BigEndian(reply, ExportLength);
                    BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), txFlags);
                    await stream.WriteAsync(reply, ct).ConfigureAwait(false);
                    await TransmitAsync(stream, ct).ConfigureAwait(false);
                    return;
                }
                case OptInfo:
                case OptGo:
                {
                    if (length < 6) { await OptionReplyAsync(stream, option, RepErrInvalid, Array.Empty<byte>(), ct).ConfigureAwait(false); continue; }
                    var export = new byte[12];
                    BinaryPrimitives.WriteUInt16BigEndian(export, InfoExport);
                    BinaryPrimitives.WriteUInt64BigEndian(export.AsSpan(2), ExportLength);
                    BinaryPrimitives.WriteUInt16BigEndian(export.AsSpan(10), txFlags);
                    await OptionReplyAsync(stream, option, RepInfo, export, ct).ConfigureAwait(false);
                    var sizes = new byte[14];
                    BinaryPrimitives.WriteUInt16BigEndian(sizes, InfoBlockSize);
                    BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(2), 1);
                    BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(6), 4096);
                    BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(10), MaxRequest);
                    await OptionReplyAsync(stream, option, RepInfo, sizes, ct).ConfigureAwait(false);
                    await OptionReplyAsync(stream, option, RepAck, Array.Empty<byte>(), ct).ConfigureAwait(false);
                    if (option == OptGo)
                    {
                        await TransmitAsync(stream, ct).ConfigureAwait(false);
                        return;
                    }
                    continue;
                }
                case OptAbort:
                    await OptionReplyAsync(stream, option, RepAck, Array.Empty<byte>(), ct).ConfigureAwait(false);
                    return;
                default:
                    // STARTTLS, structured replies, meta contexts, LIST …: not offered; qemu
                    // then uses simple replies and no block status.
                    await OptionReplyAsync(stream, option, option == 5 ? RepErrPolicy : RepErrUnsup, Array.Empty<byte>(), ct).ConfigureAwait(false);
                    continue;
            }
        }
    }

    private static async Task OptionReplyAsync(Stream stream, uint option, uint type, byte[] data, CancellationToken ct)
    {
        var head = new byte[20 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(head, OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(12), type);
        BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(16), (uint)data.Length);
        data.CopyTo(head, 20);
        await stream.WriteAsync(head, ct).ConfigureAwait(false);
    }

    private async Task TransmitAsync(Stream stream, CancellationToken ct)
    {
        var writeLock = new SemaphoreSlim(1, 1);
        var slots = new SemaphoreSlim(ParallelReads, ParallelReads);
        var inFlight = new List<Task>();
        var head = new byte[28];
        try
        {
            while (true)
            {
                await stream.ReadExactlyAsync(head, ct).ConfigureAwait(false);
                if (BinaryPrimitives.ReadUInt32BigEndian(head) != RequestMagic) return;
                ushort type = BinaryPrimitives.ReadUInt16BigEndian(head.AsSpan(6));
                ulong handle = BinaryPrimitives.ReadUInt64BigEndian(head.AsSpan(8));
                ulong offset = BinaryPrimitives.ReadUInt64BigEndian(head.AsSpan(16));
                uint length = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(24));
                inFlight.RemoveAll(t => t.IsCompleted);
                switch (type)
                {
                    case CmdDisc:
                        return;
                    case CmdRead:
                        if (length > MaxRequest || offset + length > ExportLength)
                        {
                            await ReplyAsync(stream, writeLock, handle, EInval, null, ct).ConfigureAwait(false);
                            break;
                        }
                        await slots.WaitAsync(ct).ConfigureAwait(false);
                        inFlight.Add(Task.Run(async () =>
                        {
                            try
                            {
                                var data = new byte[length];
                                uint error = 0;
                                try
                                {
                                    // Bytes past the file's end (in its last, padded sector) stay zero.
                                    long inFile = Math.Max(0, Math.Min((long)length, _file.Length - (long)offset));
                                    if (inFile > 0) await _file.ReadAsync((long)offset, data.AsMemory(0, (int)inFile), ct).ConfigureAwait(false);
                                }
                                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                                {
                                    _log?.Invoke($"nbd bridge: reading {length} bytes at {offset} of {_file.Display} failed: {e.Message}");
                                    error = EIO;
                                }
                                await ReplyAsync(stream, writeLock, handle, error, error == 0 ? data : null, ct).ConfigureAwait(false);
                            }
                            finally { slots.Release(); }
                        }, ct));
                        break;
                    case CmdFlush:
                        await ReplyAsync(stream, writeLock, handle, 0, null, ct).ConfigureAwait(false);
                        break;
                    case 1: // WRITE: its payload follows the request; read it and refuse.
                    {
                        var sink = new byte[Math.Min(length, 65536u)];
                        for (uint left = length; left > 0;)
                        {
                            int n = (int)Math.Min(left, (uint)sink.Length);
                            await stream.ReadExactlyAsync(sink.AsMemory(0, n), ct).ConfigureAwait(false);
                            left -= (uint)n;
                        }
                        await ReplyAsync(stream, writeLock, handle, EPerm, null, ct).ConfigureAwait(false);
                        break;
                    }
                    default:
                        await ReplyAsync(stream, writeLock, handle, type is 4 or 6 ? EPerm : EInval, null, ct).ConfigureAwait(false);
                        break;
                }
            }
        }
        finally
        {
            try { await Task.WhenAll(inFlight).ConfigureAwait(false); } catch { }
        }
    }

    private static async Task ReplyAsync(Stream stream, SemaphoreSlim writeLock, ulong handle, uint error, byte[]? data, CancellationToken ct)
    {
        var head = new byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(head, SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(4), error);
        BinaryPrimitives.WriteUInt64BigEndian(head.AsSpan(8), handle);
        await writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(head, ct).ConfigureAwait(false);
            if (data is not null) await stream.WriteAsync(data, ct).ConfigureAwait(false);
        }
        finally { writeLock.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        lock (_clients)
            foreach (var c in _clients)
                try { c.Shutdown(SocketShutdown.Both); c.Dispose(); } catch { }
        try { await _acceptLoop.ConfigureAwait(false); } catch { }
        try { File.Delete(SocketPath); } catch { }
        await _file.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
