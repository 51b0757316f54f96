using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Protocol;

/// <summary>
/// One conversation with guestfsd over a byte stream: framing, requests,
/// replies, progress, and FileIn/FileOut chunk streams with cancellation from
/// either side. It is not thread-safe: the session allows one call at a time.
/// Any I/O failure or malformed frame throws <see cref="GuestFsProtocolException"/>
/// and leaves the channel <see cref="IsBroken"/>; daemon errors throw
/// <see cref="GuestFsException"/> and leave it usable.
/// </summary>
public sealed class DaemonChannel : IDisposable
{
    private const int ReadBufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly byte[] _rbuf = new byte[ReadBufferSize];
    private int _rstart, _rend;
    private uint _serial = ProtocolConstants.FirstSerial;
    private readonly byte[] _chunkFrame = new byte[ProtocolConstants.ChunkMax + 16];
    private string? _brokenReason;

    public DaemonChannel(Stream stream)
    {
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        _socket = (stream as System.Net.Sockets.NetworkStream)?.Socket;
    }

    // The socket under _stream, for the blocking path: once .NET has used a socket
    // asynchronously (the launch flag, transfers) it keeps it non-blocking, and its
    // "blocking" Receive then waits on an event set by .NET's epoll thread: two thread
    // switches per reply. The blocking path instead waits in poll(2) itself and reads
    // with recv(2), on the calling thread.
    private readonly System.Net.Sockets.Socket? _socket;

    private int ReceiveBlocking(byte[] buffer, int offset, int count)
    {
        if (_socket is null) return _stream.Read(buffer, offset, count);
        bool added = false;
        var handle = _socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                nint n = Native.Recv(fd, ref buffer[offset], count, 0);
                if (n >= 0) return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Native.EINTR) continue;
                if (errno != Native.EAGAIN) throw new IOException($"recv failed: errno {errno}");
                Native.WaitUntil(fd, Native.POLLIN);
            }
        }
        finally { if (added) handle.DangerousRelease(); }
    }

    private void SendBlocking(ReadOnlySpan<byte> data)
    {
        if (_socket is null) { _stream.Write(data); _stream.Flush(); return; }
        bool added = false;
        var handle = _socket.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            while (data.Length > 0)
            {
                nint n = Native.Send(fd, ref MemoryMarshal.GetReference(data), data.Length, Native.MSG_NOSIGNAL);
                if (n >= 0) { data = data.Slice((int)n); continue; }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Native.EINTR) continue;
                if (errno != Native.EAGAIN) throw new IOException($"send failed: errno {errno}");
                Native.WaitUntil(fd, Native.POLLOUT);
            }
        }
        finally { if (added) handle.DangerousRelease(); }
    }

    private static class Native
    {
        public const int EINTR = 4, EAGAIN = 11, MSG_NOSIGNAL = 0x4000;
        public const short POLLIN = 1, POLLOUT = 4;

        [StructLayout(LayoutKind.Sequential)]
        public struct PollFd { public int Fd; public short Events; public short Revents; }

        [DllImport("libc", EntryPoint = "recv", SetLastError = true)]
        public static extern nint Recv(int fd, ref byte buffer, nint length, int flags);

        [DllImport("libc", EntryPoint = "send", SetLastError = true)]
        public static extern nint Send(int fd, ref byte buffer, nint length, int flags);

        [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
        public static extern int Poll(ref PollFd fds, nuint count, int timeout);

        /// <summary>Blocks in poll(2) until <paramref name="fd"/> is ready for <paramref name="events"/> (or hung up).</summary>
        public static void WaitUntil(int fd, short events)
        {
            var pfd = new PollFd { Fd = fd, Events = events };
            if (Poll(ref pfd, 1, -1) < 0 && Marshal.GetLastPInvokeError() != EINTR)
                throw new IOException($"poll failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Raised (on the thread that reads) for every daemon progress message.</summary>
    public event Action<ProgressMessage>? Progress;

    /// <summary>Why the channel can no longer be used, or null.</summary>
    public string? BrokenReason => _brokenReason;

    public bool IsBroken => _brokenReason is not null;

    /// <summary>The serial the next request will carry.</summary>
    public uint NextSerial => _serial;

    // ---------------------------------------------------------------- reading

    // The async methods below run once per message or chunk: pooled builders, so they
    // do not allocate when they complete asynchronously.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FillAsync(bool async, int count, string procedure)
    {
        if (_rend - _rstart >= count) return;
        if (_rstart > 0)
        {
            Buffer.BlockCopy(_rbuf, _rstart, _rbuf, 0, _rend - _rstart);
            _rend -= _rstart;
            _rstart = 0;
        }
        while (_rend < count)
        {
            int n;
            try
            {
                n = !async
                    ? ReceiveBlocking(_rbuf, _rend, _rbuf.Length - _rend)
                    : await _stream.ReadAsync(_rbuf.AsMemory(_rend, _rbuf.Length - _rend)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                throw Break(procedure, $"reading from the appliance failed: {e.Message}", e);
            }
            if (n == 0)
                throw Break(procedure, "the appliance closed the connection unexpectedly (qemu or the daemon exited; see the appliance log)");
            _rend += n;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<uint> ReadWordAsync(bool async, string procedure)
    {
        await FillAsync(async, 4, procedure).ConfigureAwait(false);
        uint w = BinaryPrimitives.ReadUInt32BigEndian(_rbuf.AsSpan(_rstart, 4));
        _rstart += 4;
        return w;
    }

    /// <summary>A message body held in the read buffer or in a rented array.</summary>
    private readonly struct Frame : IDisposable
    {
        public Frame(byte[] array, int offset, int length, bool rented)
        {
            Array = array; Offset = offset; Length = length; Rented = rented;
        }
        public byte[] Array { get; }
        public int Offset { get; }
        public int Length { get; }
        public bool Rented { get; }
        public ReadOnlySpan<byte> Span => Array.AsSpan(Offset, Length);
        public void Dispose() { if (Rented) ArrayPool<byte>.Shared.Return(Array); }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Frame> ReadBodyAsync(bool async, uint length, string procedure)
    {
        if (length > ProtocolConstants.MessageMax)
            throw Break(procedure, $"message length {length} is larger than the protocol maximum {ProtocolConstants.MessageMax} (lost synchronisation with the daemon)");
        int len = (int)length;
        if (len <= ReadBufferSize)
        {
            await FillAsync(async, len, procedure).ConfigureAwait(false);
            var f = new Frame(_rbuf, _rstart, len, false);
            _rstart += len;
            return f;
        }
        // Only lengths already checked against MessageMax get here.
        var big = ArrayPool<byte>.Shared.Rent(len);
        int have = Math.Min(_rend - _rstart, len);
        Buffer.BlockCopy(_rbuf, _rstart, big, 0, have);
        _rstart += have;
        try
        {
            int off = have;
            while (off < len)
            {
                int n;
                try { n = !async ? ReceiveBlocking(big, off, len - off) : await _stream.ReadAsync(big.AsMemory(off, len - off)).ConfigureAwait(false); }
                catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
                {
                    throw Break(procedure, $"reading from the appliance failed: {e.Message}", e);
                }
                if (n == 0)
                    throw Break(procedure, "the appliance closed the connection unexpectedly in the middle of a message");
                off += n;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(big);
            throw;
        }
        return new Frame(big, 0, len, true);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadProgressAsync(bool async, string procedure)
    {
        await FillAsync(async, ProtocolConstants.ProgressSize, procedure).ConfigureAwait(false);
        var r = new XdrReader(_rbuf.AsSpan(_rstart, ProtocolConstants.ProgressSize));
        var msg = ProgressMessage.Read(ref r);
        _rstart += ProtocolConstants.ProgressSize;
        try { Progress?.Invoke(msg); }
        catch { /* a listener's fault must not break the protocol */ }
    }

    /// <summary>
    /// Reads the next length-prefixed message, consuming progress messages
    /// and (when <paramref name="skipCancelFlags"/>) stray cancel flags.
    /// Returns null when a cancel flag was seen and not skipped.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Frame?> ReadMessageAsync(bool async, string procedure, bool skipCancelFlags, Action? onCancelFlag = null)
    {
        while (true)
        {
            uint w = await ReadWordAsync(async, procedure).ConfigureAwait(false);
            switch (w)
            {
                case ProtocolConstants.ProgressFlag:
                    await ReadProgressAsync(async, procedure).ConfigureAwait(false);
                    continue;
                case ProtocolConstants.CancelFlag:
                    if (onCancelFlag is not null) { onCancelFlag(); continue; }
                    if (skipCancelFlags) continue;
                    return null;
                case ProtocolConstants.LaunchFlag:
                    throw Break(procedure, "unexpected launch flag from the daemon while waiting for a reply");
                default:
                    return await ReadBodyAsync(async, w, procedure).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Waits for the daemon's launch flag (the first word it sends), consuming nothing else.</summary>
    public async Task WaitForLaunchFlagAsync(CancellationToken cancellationToken)
    {
        const bool async = true; // transfers and the launch flag never block a caller's thread
        var read = ReadWordAsync(async, "launch").AsTask();
        uint w = await read.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (w != ProtocolConstants.LaunchFlag)
            throw Break("launch", $"the daemon sent 0x{w:x8} instead of the launch flag 0x{ProtocolConstants.LaunchFlag:x8}");
    }

    // ---------------------------------------------------------------- writing

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteRawAsync(bool async, ReadOnlyMemory<byte> bytes, string procedure)
    {
        try
        {
            if (!async)
            {
                SendBlocking(bytes.Span);
            }
            else
            {
                await _stream.WriteAsync(bytes).ConfigureAwait(false);
                await _stream.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            throw Break(procedure, $"writing to the appliance failed: {e.Message}", e);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<uint> SendRequestAsync(bool async, RpcRequest request, ulong progressHint)
    {
        uint serial = _serial++;
        using var w = new XdrWriter(256, ProtocolConstants.MessageMax);
        try
        {
            MessageHeader.Call(request.Procedure, serial, progressHint, request.Optargs).Write(w);
            request.WriteArgs?.Invoke(w);
        }
        catch (InvalidOperationException e)
        {
            // Nothing was sent: the session stays usable.
            throw new GuestFsException(request.Name, "EINVAL",
                $"the request is larger than the protocol's {ProtocolConstants.MessageMax / (1024 * 1024)} MiB message limit; pass less data per call (for files use upload)", e);
        }
        await WriteRawAsync(async, w.GetFrame(), request.Name).ConfigureAwait(false);
        return serial;
    }

    private ValueTask WriteChunkAsync(bool async, int dataLength, bool cancel, string procedure)
    {
        // _chunkFrame layout: [len][cancel][datalen][data ...][pad]
        int padded = (dataLength + 3) & ~3;
        int bodyLen = 8 + padded;
        var f = _chunkFrame.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(f, (uint)bodyLen);
        BinaryPrimitives.WriteInt32BigEndian(f.Slice(4), cancel ? 1 : 0);
        BinaryPrimitives.WriteUInt32BigEndian(f.Slice(8), (uint)dataLength);
        f.Slice(12 + dataLength, padded - dataLength).Clear();
        return WriteRawAsync(async, _chunkFrame.AsMemory(0, 4 + bodyLen), procedure);
    }

    private const int ChunksPerBlock = 16;
    private readonly byte[] _sinkBlock = new byte[ChunksPerBlock * ProtocolConstants.ChunkMax];
    private readonly byte[] _sourceBlock = new byte[ChunksPerBlock * ProtocolConstants.ChunkMax];
    // Room for ChunksPerBlock data chunks and the end chunk, each [len][cancel][datalen][data][pad].
    private readonly byte[] _uploadFrames = new byte[(ChunksPerBlock + 1) * (ProtocolConstants.ChunkMax + 12)];

    /// <summary>Encodes <paramref name="data"/> as chunk frames into _uploadFrames (and the end chunk if <paramref name="end"/>); returns the byte count.</summary>
    private int FrameChunks(ReadOnlySpan<byte> data, bool end)
    {
        var f = _uploadFrames.AsSpan();
        int at = 0;
        while (data.Length > 0 || end)
        {
            int len = Math.Min(data.Length, ProtocolConstants.ChunkMax);
            int padded = (len + 3) & ~3;
            BinaryPrimitives.WriteUInt32BigEndian(f.Slice(at), (uint)(8 + padded));
            BinaryPrimitives.WriteInt32BigEndian(f.Slice(at + 4), 0);
            BinaryPrimitives.WriteUInt32BigEndian(f.Slice(at + 8), (uint)len);
            data.Slice(0, len).CopyTo(f.Slice(at + 12));
            f.Slice(at + 12 + len, padded - len).Clear();
            at += 12 + padded;
            data = data.Slice(len);
            if (len == 0) break; // that was the end chunk
        }
        return at;
    }

    // ---------------------------------------------------------------- replies

    private T DecodeReply<T>(in Frame frame, RpcRequest request, uint serial, ReplyDecoder<T> decoder)
    {
        var r = new XdrReader(frame.Span);
        MessageHeader h;
        try
        {
            h = MessageHeader.Read(ref r);
        }
        catch (XdrException e)
        {
            throw Break(request.Name, $"malformed reply header: {e.Message}", e);
        }
        if (h.Program != ProtocolConstants.Program)
            throw Break(request.Name, $"reply has the wrong program number 0x{h.Program:x8}");
        if (h.Version != ProtocolConstants.Version)
            throw Break(request.Name, $"reply has protocol version {h.Version}, expected {ProtocolConstants.Version}");
        if (h.Direction != ProtocolConstants.DirectionReply)
            throw Break(request.Name, $"message direction {h.Direction} is not a reply");
        if (h.Procedure != request.Procedure)
            throw Break(request.Name, $"reply is for procedure {h.Procedure}, expected {request.Procedure}");
        if (h.Serial != serial)
            throw Break(request.Name, $"reply has serial 0x{h.Serial:x}, expected 0x{serial:x}");
        try
        {
            if (h.Status == ProtocolConstants.StatusError)
            {
                string errno = r.ReadString(ProtocolConstants.ErrnoStringMax);
                string message = r.ReadString(ProtocolConstants.ErrorMessageMax);
                r.EnsureAtEnd("the error reply");
                throw new GuestFsException(request.Name, errno, message);
            }
            if (h.Status != ProtocolConstants.StatusOk)
                throw Break(request.Name, $"reply has unknown status {h.Status}");
            T value = decoder(ref r);
            r.EnsureAtEnd("the reply");
            return value;
        }
        catch (XdrException e)
        {
            throw Break(request.Name, $"malformed reply: {e.Message}", e);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> ReceiveReplyAsync<T>(bool async, RpcRequest request, uint serial, ReplyDecoder<T> decoder, Action? onCancelFlag = null)
    {
        using var frame = (await ReadMessageAsync(async, request.Name, skipCancelFlags: true, onCancelFlag).ConfigureAwait(false))!.Value;
        return DecodeReply(frame, request, serial, decoder);
    }

    // ---------------------------------------------------------------- calls

    /// <summary>
    /// Sends a request and reads its reply. The cancellation token is only
    /// honoured where the protocol allows stopping (between file chunks);
    /// for a plain call the caller decides what to do while the reply is
    /// pending (see the session's deferred drain).
    /// </summary>
    /// <remarks>
    /// With <paramref name="async"/> false (a plain call only), the request is written
    /// and the reply read synchronously on the calling thread, so the returned task
    /// is already complete; for callers that would block on it anyway. Every read and
    /// write below takes the same explicit flag. Transfers are always asynchronous.
    /// </remarks>
    public async Task<T> CallAsync<T>(RpcRequest request, ReplyDecoder<T> decoder, FileTransfer? transfer = null, CancellationToken cancellationToken = default,
        bool async = true)
    {
        ThrowIfBroken(request.Name);
        if (transfer is null)
        {
            uint serial = await SendRequestAsync(async, request, 0).ConfigureAwait(false);
            return await ReceiveReplyAsync(async, request, serial, decoder).ConfigureAwait(false);
        }
        if (transfer.IsUpload)
            return await UploadAsync(request, decoder, transfer, cancellationToken).ConfigureAwait(false);
        return await DownloadAsync(request, decoder, transfer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Plain calls pipelined: up to <paramref name="window"/> requests wait in the daemon's
    /// queue while their replies are read, so N independent calls cost about one round trip
    /// plus the daemon's own time instead of N round trips (libguestfs can only do one call
    /// at a time). guestfsd reads and answers requests strictly in order, so reply i belongs
    /// to request i, checked by serial. A daemon error is the result of its own call and the
    /// others go on; a broken conversation throws. On cancellation no further request is
    /// sent, the replies of those already sent are read (the channel stays in step), then
    /// <see cref="OperationCanceledException"/> is thrown.
    /// </summary>
    public async Task<BatchReply<T>[]> CallBatchAsync<T>(IReadOnlyList<RpcRequest> requests, ReplyDecoder<T> decoder,
        CancellationToken cancellationToken = default, int window = 64)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window));
        const bool async = true;
        var results = new BatchReply<T>[requests.Count];
        var pending = new Queue<(int Index, uint Serial)>(Math.Min(window, requests.Count));
        int next = 0;
        bool cancelled = false;
        while (true)
        {
            while (!cancelled && next < requests.Count && pending.Count < window)
            {
                if (cancellationToken.IsCancellationRequested) { cancelled = true; break; }
                ThrowIfBroken(requests[next].Name);
                try
                {
                    pending.Enqueue((next, await SendRequestAsync(async, requests[next], 0).ConfigureAwait(false)));
                }
                catch (GuestFsException e) when (e is not GuestFsProtocolException)
                {
                    results[next] = new BatchReply<T>(default, e); // too large to send: nothing went out
                }
                next++;
            }
            if (pending.Count == 0) break;
            var (i, serial) = pending.Dequeue();
            try
            {
                results[i] = new BatchReply<T>(await ReceiveReplyAsync(async, requests[i], serial, decoder).ConfigureAwait(false), null);
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException)
            {
                results[i] = new BatchReply<T>(default, e);
            }
        }
        if (cancelled) throw new OperationCanceledException($"{requests[next].Name}: cancelled after {next} of {requests.Count} pipelined calls", cancellationToken);
        return results;
    }

    private async Task<T> UploadAsync<T>(RpcRequest request, ReplyDecoder<T> decoder, FileTransfer transfer, CancellationToken ct)
    {
        const bool async = true; // transfers and the launch flag never block a caller's thread
        uint serial = await SendRequestAsync(async, request, (ulong)transfer.ProgressHint).ConfigureAwait(false);
        int daemonCancelled = 0;
        // The reader runs beside the writer: it sees the daemon's cancel flag
        // (daemon-side cancellation), progress, and finally the reply.
        var replyTask = Task.Run(async () =>
            await ReceiveReplyAsync(async, request, serial, decoder, () => Volatile.Write(ref daemonCancelled, 1)).ConfigureAwait(false));

        bool userCancelled = false;
        Exception? sourceError = null;
        try
        {
            while (true)
            {
                if (Volatile.Read(ref daemonCancelled) == 1 || replyTask.IsCompleted)
                {
                    await WriteChunkAsync(async, 0, true, request.Name).ConfigureAwait(false);
                    break;
                }
                if (ct.IsCancellationRequested)
                {
                    userCancelled = true;
                    await WriteChunkAsync(async, 0, true, request.Name).ConfigureAwait(false);
                    break;
                }
                // Read a block of the source and send it as consecutive chunk frames in
                // one socket write: fewer system calls and thread hops per byte than
                // one write per 8 KiB chunk (the daemon reads a byte stream anyway).
                int n;
                try
                {
                    n = await ReadFullAsync(transfer.Stream, _sourceBlock).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not GuestFsProtocolException)
                {
                    sourceError = e;
                    await WriteChunkAsync(async, 0, true, request.Name).ConfigureAwait(false);
                    break;
                }
                bool last = n < _sourceBlock.Length;
                int frameBytes = FrameChunks(_sourceBlock.AsSpan(0, n), last);
                await WriteRawAsync(async, _uploadFrames.AsMemory(0, frameBytes), request.Name).ConfigureAwait(false);
                if (n > 0)
                {
                    transfer.BytesTransferred += n;
                    transfer.ChunkProgress?.Invoke(transfer.BytesTransferred);
                }
                if (last) break; // the end chunk went with this block
            }
        }
        catch (GuestFsProtocolException)
        {
            // The write side failed; the reader will tell us why (EOF etc.).
            try { await replyTask.ConfigureAwait(false); } catch (GuestFsProtocolException) { }
            throw;
        }

        T result;
        try
        {
            result = await replyTask.ConfigureAwait(false);
        }
        catch (GuestFsException e) when (e is not GuestFsProtocolException && (userCancelled || sourceError is not null))
        {
            // The daemon answers a library cancel chunk with "file upload cancelled": discard it.
            if (sourceError is not null)
                throw new IOException($"{request.Name}: reading the data to upload failed: {sourceError.Message}", sourceError);
            throw new OperationCanceledException($"{request.Name}: upload cancelled by the user", e, ct);
        }
        if (userCancelled)
            throw new OperationCanceledException($"{request.Name}: upload cancelled by the user", ct);
        if (sourceError is not null)
            throw new IOException($"{request.Name}: reading the data to upload failed: {sourceError.Message}", sourceError);
        return result;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int> ReadFullAsync(Stream s, Memory<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await s.ReadAsync(buffer.Slice(total)).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private async Task<T> DownloadAsync<T>(RpcRequest request, ReplyDecoder<T> decoder, FileTransfer transfer, CancellationToken ct)
    {
        const bool async = true; // transfers and the launch flag never block a caller's thread
        uint serial = await SendRequestAsync(async, request, 0).ConfigureAwait(false);
        // The daemon answers first (an error means no chunks follow), then streams chunks.
        T result = await ReceiveReplyAsync(async, request, serial, decoder).ConfigureAwait(false);

        bool cancelSent = false;
        Exception? sinkError = null;
        int sinkFill = 0;
        while (true)
        {
            if (!cancelSent && ct.IsCancellationRequested)
            {
                await SendCancelFlagAsync(async, request.Name).ConfigureAwait(false);
                cancelSent = true;
            }
            var maybe = await ReadMessageAsync(async, request.Name, skipCancelFlags: false).ConfigureAwait(false);
            if (maybe is null)
                throw Break(request.Name, "unexpected cancel flag from the daemon in the middle of a download");
            using var frame = maybe.Value;
            bool cancel;
            int dataLength;
            try
            {
                (cancel, dataLength) = ParseChunk(frame.Span, request.Name);
            }
            catch (XdrException e)
            {
                throw Break(request.Name, $"malformed file chunk: {e.Message}", e);
            }
            if (cancel)
            {
                if (cancelSent)
                {
                    if (sinkError is not null)
                        throw new IOException($"{request.Name}: writing the downloaded data failed: {sinkError.Message}", sinkError);
                    throw new OperationCanceledException($"{request.Name}: download cancelled by the user", ct);
                }
                throw new GuestFsException(request.Name, "EIO", "file receive cancelled by the daemon (it could not read the rest of the file)");
            }
            if (cancelSent) { if (dataLength == 0) break; continue; } // draining
            // Chunks are gathered into a block before they go to the sink: one write
            // (and, for a synchronous FileStream, one thread hop) per block, not per 8 KiB.
            bool endOfFile = dataLength == 0;
            if (!endOfFile)
            {
                frame.Array.AsSpan(frame.Offset + 8, dataLength).CopyTo(_sinkBlock.AsSpan(sinkFill));
                sinkFill += dataLength;
            }
            if (sinkFill > 0 && (endOfFile || sinkFill > _sinkBlock.Length - ProtocolConstants.ChunkMax))
            {
                try
                {
                    await transfer.Stream.WriteAsync(_sinkBlock.AsMemory(0, sinkFill)).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    sinkError = e;
                    if (endOfFile) break; // nothing left to cancel: the daemon has sent everything
                    await SendCancelFlagAsync(async, request.Name).ConfigureAwait(false);
                    cancelSent = true;
                    continue;
                }
                transfer.BytesTransferred += sinkFill;
                transfer.ChunkProgress?.Invoke(transfer.BytesTransferred);
                sinkFill = 0;
            }
            if (endOfFile) break;
        }
        // The whole file arrived (a late cancel flag, if any, is ignored by the daemon).
        if (sinkError is not null)
            throw new IOException($"{request.Name}: writing the downloaded data failed: {sinkError.Message}", sinkError);
        if (cancelSent)
            throw new OperationCanceledException($"{request.Name}: download cancelled by the user", ct);
        return result;
    }

    private (bool Cancel, int Length) ParseChunk(ReadOnlySpan<byte> body, string procedure)
    {
        var r = new XdrReader(body);
        int c = r.ReadInt32();
        if (c != 0 && c != 1)
            throw Break(procedure, $"file chunk has an invalid cancel field {c}");
        int len = r.ReadOpaqueSpan(ProtocolConstants.ChunkMax).Length;
        r.EnsureAtEnd("the file chunk");
        return (c == 1, len);
    }

    private ValueTask SendCancelFlagAsync(bool async, string procedure)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, ProtocolConstants.CancelFlag);
        return WriteRawAsync(async, word, procedure);
    }

    // ---------------------------------------------------------------- state

    private void ThrowIfBroken(string procedure)
    {
        if (_brokenReason is not null)
            throw new GuestFsProtocolException(procedure, $"the connection to the appliance is broken ({_brokenReason})");
    }

    /// <summary>Marks the channel unusable and returns the exception to throw.</summary>
    public GuestFsProtocolException Break(string procedure, string reason, Exception? inner = null)
    {
        _brokenReason ??= reason;
        return new GuestFsProtocolException(procedure, reason, inner);
    }

    public void Dispose()
    {
        _brokenReason ??= "closed";
        try { _stream.Dispose(); } catch { }
    }
}

/// <summary>The outcome of one call of a pipelined batch: its value, or the daemon's error for it.</summary>
public readonly record struct BatchReply<T>(T? Value, GuestFsException? Error)
{
    /// <summary>True when the call succeeded.</summary>
    public bool Ok => Error is null;
}
