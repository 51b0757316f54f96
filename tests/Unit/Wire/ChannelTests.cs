using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

/// <summary>The daemon channel against the in-process fake daemon: framing, replies, errors, progress, faults.</summary>
public sealed class ChannelTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly FakeDaemon _d = new();
    private DaemonChannel _ch = null!;

    private const int Exists = 36, ListDevices = 7, Upload = 66, Download = 67;
    private static RpcRequest ExistsReq(string path) => new(Exists, "exists", 0, w => w.WriteString(path));

    public async Task InitializeAsync()
    {
        _d.Handlers[Exists] = (req, _) =>
        {
            var r = req.Reader();
            string p = r.ReadString();
            return Task.FromResult<FakeDaemon.Reply>(p == "/missing"
                ? new FakeDaemon.Error("ENOENT", $"{p}: No such file or directory")
                : new FakeDaemon.Ok(w => w.WriteBool(true)));
        };
        _d.Handlers[ListDevices] = (_, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w => w.WriteStringArray(new[] { "/dev/sda", "/dev/sdb" })));
        _d.Start();
        _ch = new DaemonChannel(_d.LibrarySide);
        await _ch.WaitForLaunchFlagAsync(CancellationToken.None).WaitAsync(Deadline);
    }

    public async Task DisposeAsync()
    {
        _ch.Dispose();
        await _d.DisposeAsync();
    }

    private Task<T> Call<T>(RpcRequest r, ReplyDecoder<T> dec, FileTransfer? t = null, CancellationToken ct = default) =>
        _ch.CallAsync(r, dec, t, ct).WaitAsync(Deadline);

    private async Task AssertStillUsable()
    {
        Assert.False(_ch.IsBroken);
        Assert.True(await Call(ExistsReq("/"), XdrDecoders.Bool));
    }

    [Fact]
    public async Task Ok_replies_decode_and_serials_count_up_from_0x123400()
    {
        Assert.Equal(new[] { "/dev/sda", "/dev/sdb" }, await Call(new RpcRequest(ListDevices, "list_devices"), XdrDecoders.StringArray));
        Assert.True(await Call(ExistsReq("/etc"), XdrDecoders.Bool));
        Assert.Equal(0x123400u, _d.Requests[0].Header.Serial);
        Assert.Equal(0x123401u, _d.Requests[1].Header.Serial);
        Assert.Equal(ProtocolConstants.DirectionCall, _d.Requests[1].Header.Direction);
        var r = _d.Requests[1].Reader();
        Assert.Equal("/etc", r.ReadString());
    }

    [Fact]
    public async Task A_blocking_call_is_complete_when_it_returns_and_errors_keep_the_channel_usable()
    {
        var ok = _ch.CallAsync(ExistsReq("/etc"), XdrDecoders.Bool, async: false);
        Assert.True(ok.IsCompleted, "a blocking call reads its reply before returning");
        Assert.True(await ok);
        var missing = _ch.CallAsync(ExistsReq("/missing"), XdrDecoders.Bool, async: false);
        Assert.True(missing.IsCompleted);
        var e = await Assert.ThrowsAsync<GuestFsException>(() => missing);
        Assert.Equal("ENOENT", e.ErrnoName);
        await AssertStillUsable();
    }

    [Fact]
    public async Task An_error_reply_carries_errno_and_message_and_the_channel_stays_usable()
    {
        var e = await Assert.ThrowsAsync<GuestFsException>(() => Call(ExistsReq("/missing"), XdrDecoders.Bool));
        Assert.Equal("ENOENT", e.ErrnoName);
        Assert.Equal(2, e.Errno);
        Assert.Equal("exists", e.Procedure);
        Assert.Equal("exists: /missing: No such file or directory", e.Message);
        Assert.IsNotType<GuestFsProtocolException>(e);
        await AssertStillUsable();
    }

    [Fact]
    public async Task Progress_messages_before_the_reply_become_events()
    {
        var seen = new List<ProgressMessage>();
        _ch.Progress += m => { lock (seen) seen.Add(m); };
        _d.Handlers[100] = async (req, d) =>
        {
            await d.SendProgressAsync(req, 10, 100);
            await d.SendProgressAsync(req, 100, 100);
            return new FakeDaemon.Ok();
        };
        await Call(new RpcRequest(100, "slow"), XdrDecoders.Void);
        Assert.Equal(2, seen.Count);
        Assert.Equal(100, seen[0].Procedure);
        Assert.Equal(_d.Requests[^1].Header.Serial, seen[0].Serial);
        Assert.Equal((10ul, 100ul), (seen[0].Position, seen[0].Total));
        Assert.Equal(100ul, seen[1].Position);
    }

    [Fact]
    public async Task A_stray_cancel_flag_before_a_reply_is_skipped()
    {
        _d.Handlers[101] = async (req, d) => { await d.WriteWordAsync(ProtocolConstants.CancelFlag); return new FakeDaemon.Ok(w => w.WriteInt32(7)); };
        Assert.Equal(7, await Call(new RpcRequest(101, "x"), XdrDecoders.Int32));
    }

    public static IEnumerable<object[]> BadReplies()
    {
        var h = MessageHeader.Call(200, ProtocolConstants.FirstSerial, 0, 0);
        yield return new object[] { "wrong serial", FakeDaemon.ReplyFrame(h, new FakeDaemon.Ok(), serialOverride: 0x999) };
        yield return new object[] { "wrong procedure", FakeDaemon.ReplyFrame(h, new FakeDaemon.Ok(), procOverride: 201) };
        yield return new object[] { "a call, not a reply", FakeDaemon.ReplyFrame(h, new FakeDaemon.Ok(), direction: 0) };
        var launch = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(launch, ProtocolConstants.LaunchFlag);
        yield return new object[] { "launch flag mid-call", launch };
        var huge = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(huge, ProtocolConstants.MessageMax + 1u);
        yield return new object[] { "length over 4 MiB", huge };
        var trailing = FakeDaemon.ReplyFrame(h, new FakeDaemon.Ok(w => w.WriteInt32(1)));
        yield return new object[] { "trailing bytes after an empty reply", trailing };
        var pad = FakeDaemon.ReplyFrame(h, new FakeDaemon.Ok(w => w.WriteString("a")));
        pad[^1] = 0x55;
        yield return new object[] { "non-zero padding", pad };
        var shortHeader = new byte[] { 0, 0, 0, 8, 0x20, 0, 0xF5, 0xF5, 0, 0, 0, 4 };
        yield return new object[] { "a header cut short", shortHeader };
    }

    [Theory]
    [MemberData(nameof(BadReplies))]
    public async Task A_malformed_reply_breaks_the_channel_with_a_protocol_error(string what, byte[] bytes)
    {
        _d.Handlers[200] = (_, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Raw(bytes));
        // The first request has serial 0x123400: the frames above are built for it.
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = await Assert.ThrowsAsync<GuestFsProtocolException>(() => Call(new RpcRequest(200, "bad"), XdrDecoders.Void));
        Assert.True(_ch.IsBroken, what);
        Assert.Equal("EPIPE", e.ErrnoName);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "no allocation proportional to a hostile length");
        await Assert.ThrowsAsync<GuestFsProtocolException>(() => Call(ExistsReq("/"), XdrDecoders.Bool));
    }

    [Fact]
    public async Task The_appliance_closing_mid_message_is_a_protocol_error_not_a_hang()
    {
        _d.Handlers[202] = (_, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Raw(new byte[] { 0, 0, 0, 100, 0x20, 0, 0xF5 }, CloseAfter: true));
        var e = await Assert.ThrowsAsync<GuestFsProtocolException>(() => Call(new RpcRequest(202, "eof"), XdrDecoders.Void));
        Assert.Contains("closed the connection", e.Message);
    }

    [Fact]
    public async Task A_request_over_4_MiB_is_refused_before_sending_and_the_channel_stays_usable()
    {
        var big = new byte[ProtocolConstants.MessageMax];
        var e = await Assert.ThrowsAsync<GuestFsException>(() => Call(new RpcRequest(246, "internal_write", 0, w => { w.WriteString("/f"); w.WriteOpaque(big); }), XdrDecoders.Void));
        Assert.Contains("4 MiB", e.Message);
        Assert.DoesNotContain(_d.Requests, r => r.Header.Procedure == 246);
        await AssertStillUsable();
    }

    [Fact]
    public async Task Random_garbage_never_crashes_or_hangs_the_decoder()
    {
        var rnd = new Random(1234);
        for (int i = 0; i < 300; i++)
        {
            var bytes = new byte[rnd.Next(0, 200)];
            rnd.NextBytes(bytes);
            try
            {
                var r = new XdrReader(bytes);
                var h = MessageHeader.Read(ref r);
                _ = r.ReadStringArray();
                _ = r.ReadOptionalString();
            }
            catch (XdrException) { }
        }
        // And through the channel: a garbage reply is a protocol error.
        var junk = new byte[64]; rnd.NextBytes(junk); BinaryPrimitives.WriteUInt32BigEndian(junk, 60);
        _d.Handlers[203] = (_, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Raw(junk));
        await Assert.ThrowsAsync<GuestFsProtocolException>(() => Call(new RpcRequest(203, "junk"), XdrDecoders.Void));
    }

    // ------------------------------------------------------------ uploads

    private void ServeUpload(Func<FakeRequest, FakeDaemon, Task<FakeDaemon.Reply>>? custom = null)
    {
        _d.Handlers[Upload] = custom ?? (async (req, d) =>
        {
            var r = req.Reader();
            string path = r.ReadString();
            var (data, cancelled) = await d.ReceiveFileAsync();
            if (cancelled) return new FakeDaemon.Error("", "file upload cancelled");
            Uploaded[path] = data;
            return new FakeDaemon.Ok();
        });
    }

    private readonly Dictionary<string, byte[]> Uploaded = new();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(8192)]
    [InlineData(8193)]
    [InlineData(1 << 20)]
    public async Task Uploads_arrive_intact_with_the_size_as_progress_hint(int size)
    {
        ServeUpload();
        var data = new byte[size]; new Random(size).NextBytes(data);
        await Call(new RpcRequest(Upload, "upload", 0, w => w.WriteString("/f")), XdrDecoders.Void, FileTransfer.Upload(new MemoryStream(data)));
        Assert.Equal(data, Uploaded["/f"]);
        Assert.Equal((ulong)size, _d.Requests.Last(r => r.Header.Procedure == Upload).Header.ProgressHint);
        await AssertStillUsable();
    }

    [Fact]
    public async Task The_daemon_cancelling_an_upload_reports_its_error_and_the_channel_stays_usable()
    {
        ServeUpload(async (req, d) =>
        {
            await d.ReadChunkAsync();
            await d.CancelReceiveAsync();
            return new FakeDaemon.Error("ENOENT", "/nodir/x.bin: No such file or directory");
        });
        var e = await Assert.ThrowsAsync<GuestFsException>(() =>
            Call(new RpcRequest(Upload, "upload", 0, w => w.WriteString("/nodir/x.bin")), XdrDecoders.Void, FileTransfer.Upload(new MemoryStream(new byte[32 << 20]))));
        Assert.Equal("ENOENT", e.ErrnoName);
        await AssertStillUsable();
    }

    [Fact]
    public async Task The_daemon_cancel_flag_after_all_data_was_sent_is_skipped_before_the_error_reply()
    {
        ServeUpload(async (req, d) =>
        {
            var (_, cancelled) = await d.ReceiveFileAsync();
            await d.WriteWordAsync(ProtocolConstants.CancelFlag);
            return new FakeDaemon.Error("EACCES", "/ro/x: Permission denied");
        });
        var e = await Assert.ThrowsAsync<GuestFsException>(() =>
            Call(new RpcRequest(Upload, "upload", 0, w => w.WriteString("/ro/x")), XdrDecoders.Void, FileTransfer.Upload(new MemoryStream(new byte[1000]))));
        Assert.Equal("EACCES", e.ErrnoName);
        await AssertStillUsable();
    }

    [Fact]
    public async Task Cancelling_an_upload_sends_a_cancel_chunk_consumes_the_reply_and_keeps_the_channel()
    {
        ServeUpload();
        using var cts = new CancellationTokenSource();
        var source = new CallbackStream(64 << 20, afterBytes: 100_000, cts.Cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Call(new RpcRequest(Upload, "upload", 0, w => w.WriteString("/c")), XdrDecoders.Void, FileTransfer.Upload(source, 64 << 20), cts.Token));
        Assert.False(Uploaded.ContainsKey("/c"));
        Assert.True(source.Position < (64 << 20), "the upload stopped early");
        await AssertStillUsable();
    }

    [Fact]
    public async Task A_failing_source_stream_cancels_the_upload_with_an_IOException()
    {
        ServeUpload();
        var source = new CallbackStream(1 << 20, afterBytes: 50_000, () => throw new IOException("disk read error"));
        var e = await Assert.ThrowsAsync<IOException>(() =>
            Call(new RpcRequest(Upload, "upload", 0, w => w.WriteString("/s")), XdrDecoders.Void, FileTransfer.Upload(source, 1 << 20)));
        Assert.Contains("disk read error", e.Message);
        await AssertStillUsable();
    }

    // ------------------------------------------------------------ downloads

    private void ServeDownload(byte[] content, Func<int, Task>? beforeChunk = null, int cancelAtChunk = -1)
    {
        _d.Handlers[Download] = async (req, d) =>
        {
            string path = req.Reader().ReadString();
            if (path == "/missing") return new FakeDaemon.Error("ENOENT", "/missing: No such file or directory");
            await d.SendReplyAsync(req, new FakeDaemon.Ok());
            await d.SendFileAsync(content, beforeChunk: beforeChunk, cancelAtChunk: cancelAtChunk);
            return new FakeDaemon.None();
        };
    }

    private static RpcRequest DownloadReq(string p) => new(Download, "download", 0, w => w.WriteString(p));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(8192)]
    [InlineData(3 << 20)]
    public async Task Downloads_arrive_intact(int size)
    {
        var data = new byte[size]; new Random(size + 1).NextBytes(data);
        ServeDownload(data);
        var ms = new MemoryStream();
        await Call(DownloadReq("/f"), XdrDecoders.Void, FileTransfer.Download(ms));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(ms.ToArray()));
        await AssertStillUsable();
    }

    [Fact]
    public async Task A_download_the_daemon_refuses_sends_no_chunks()
    {
        ServeDownload(new byte[10]);
        var ms = new MemoryStream();
        var e = await Assert.ThrowsAsync<GuestFsException>(() => Call(DownloadReq("/missing"), XdrDecoders.Void, FileTransfer.Download(ms)));
        Assert.Equal("ENOENT", e.ErrnoName);
        Assert.Equal(0, ms.Length);
        await AssertStillUsable();
    }

    [Fact]
    public async Task Cancelling_a_download_sends_the_flag_drains_and_keeps_the_channel()
    {
        ServeDownload(new byte[4 << 20], beforeChunk: async i => { if (i % 16 == 0) await Task.Delay(2); });
        using var cts = new CancellationTokenSource();
        var sink = new CallbackStream(long.MaxValue, afterBytes: 64 * 1024, cts.Cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Call(DownloadReq("/big"), XdrDecoders.Void, FileTransfer.Download(sink), cts.Token));
        Assert.True(sink.Position < (4 << 20), "the download stopped early");
        await AssertStillUsable();
    }

    [Fact]
    public async Task The_daemon_cancelling_a_download_mid_stream_is_an_error_and_the_channel_stays_usable()
    {
        ServeDownload(new byte[1 << 20], cancelAtChunk: 5);
        var e = await Assert.ThrowsAsync<GuestFsException>(() => Call(DownloadReq("/broken"), XdrDecoders.Void, FileTransfer.Download(new MemoryStream())));
        Assert.Contains("cancelled by the daemon", e.Message);
        await AssertStillUsable();
    }

    [Fact]
    public async Task A_failing_destination_drains_the_download_and_reports_an_IOException()
    {
        ServeDownload(new byte[2 << 20], beforeChunk: async i => { if (i % 16 == 0) await Task.Delay(1); });
        var sink = new CallbackStream(long.MaxValue, afterBytes: 20_000, () => throw new IOException("No space left on device"));
        var e = await Assert.ThrowsAsync<IOException>(() => Call(DownloadReq("/f"), XdrDecoders.Void, FileTransfer.Download(sink)));
        Assert.Contains("No space left", e.Message);
        await AssertStillUsable();
    }

    [Fact]
    public async Task A_daemon_that_never_sends_the_launch_flag_times_out()
    {
        await using var silent = new FakeDaemon();
        silent.Start(sendLaunchFlag: false);
        using var ch = new DaemonChannel(silent.LibrarySide);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ch.WaitForLaunchFlagAsync(cts.Token).WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_wrong_first_word_is_not_taken_for_the_launch_flag()
    {
        await using var wrong = new FakeDaemon();
        wrong.Start(sendLaunchFlag: false);
        await wrong.WriteWordAsync(0x12345678);
        using var ch = new DaemonChannel(wrong.LibrarySide);
        var e = await Assert.ThrowsAsync<GuestFsProtocolException>(() => ch.WaitForLaunchFlagAsync(CancellationToken.None).WaitAsync(Deadline));
        Assert.Contains("launch flag", e.Message);
    }
}

/// <summary>
/// A stream of zeros of a given length (read side) or a sink (write side) that
/// runs an action once, after a number of bytes — to press "Ctrl+C" or fail mid-transfer.
/// </summary>
internal sealed class CallbackStream : Stream
{
    private readonly long _length;
    private readonly long _after;
    private Action? _action;
    private long _pos;

    public CallbackStream(long length, long afterBytes, Action action) { _length = length; _after = afterBytes; _action = action; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _pos; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long o, SeekOrigin s) => throw new NotSupportedException();
    public override void SetLength(long v) => throw new NotSupportedException();

    private void Tick(int n)
    {
        _pos += n;
        if (_pos >= _after && _action is { } a) { _action = null; a(); }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = (int)Math.Min(count, _length - _pos);
        if (n <= 0) return 0;
        Array.Clear(buffer, offset, n);
        Tick(n);
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Tick(count);
}
