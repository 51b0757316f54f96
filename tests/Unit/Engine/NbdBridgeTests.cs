using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Remote;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>
/// The NBD server that hands http(s)/ftp(s) disks to qemu, tested with qemu's own NBD client
/// (qemu-img, qemu-io) over a file served from memory through the chunk cache.
/// </summary>
public sealed class NbdBridgeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gfs-nbd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A file in memory read through <see cref="ChunkedRemoteFile"/>; can be told to fail or stall.</summary>
    private sealed class MemoryFile : ChunkedRemoteFile
    {
        private readonly byte[] _data;
        public int Fetches;
        public int FailFirst;
        public bool Stall;

        public MemoryFile(byte[] data, int chunk = 64 * 1024) : base("mem://test.img", chunk, 16)
        {
            _data = data;
            Length = data.Length;
        }

        protected override async Task FetchAsync(long offset, Memory<byte> into, CancellationToken ct)
        {
            int n = Interlocked.Increment(ref Fetches);
            if (Stall) await Task.Delay(Timeout.Infinite, ct);
            if (n <= FailFirst) throw new IOException("injected failure");
            await Task.Yield();
            _data.AsMemory((int)offset, into.Length).CopyTo(into);
        }
    }

    private static byte[] Pattern(int length)
    {
        var b = new byte[length];
        new Random(42).NextBytes(b);
        return b;
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(string program, params string[] args)
    {
        var r = await ExternalCommand.RunAsync(ExternalCommand.Find(program) ?? throw new InvalidOperationException(program + " is not installed"),
            args, CancellationToken.None, TimeSpan.FromSeconds(60));
        return (r.ExitCode, r.StandardOutput, r.StandardError);
    }

    [Fact]
    public async Task Qemu_reads_the_served_file_byte_for_byte()
    {
        // Not a multiple of the chunk size, so the last chunk is short.
        var data = Pattern(3 * 1024 * 1024 + 12345);
        var file = new MemoryFile(data);
        string sock = Path.Combine(_dir, "s.sock");
        await using (var server = NbdExportServer.Start(file, sock))
        {
            string copy = Path.Combine(_dir, "copy.raw");
            var r = await RunAsync("qemu-img", "convert", "-f", "raw", "-O", "raw",
                $"nbd+unix:///?socket={sock}", copy);
            Assert.True(r.Code == 0, r.Err);
            // The export is the file padded with zeros to whole sectors (qemu 7.2 needs that).
            byte[] copied = File.ReadAllBytes(copy);
            Assert.Equal((data.Length + 511) / 512 * 512, copied.Length);
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(copied.AsSpan(0, data.Length)));
            Assert.All(copied.Skip(data.Length), b => Assert.Equal(0, b));
            // Many reads in flight at once, unaligned, across chunk edges, dumped by qemu-io.
            var cmds = Enumerable.Range(0, 24).SelectMany(i => new[] { "-c", $"aio_read -v {i * 131071 + 7} 3000" }).Concat(new[] { "-c", "aio_flush" }).ToArray();
            r = await RunAsync("qemu-io", new[] { "-r", "-f", "raw", $"nbd+unix:///?socket={sock}" }.Concat(cmds).ToArray());
            Assert.True(r.Code == 0, r.Err);
            int dumped = r.Out.Split('\n').Count(l => l.Length > 9 && l[8] == ':');
            Assert.Equal(24 * 188, dumped); // 3000 bytes: 188 lines of up to 16 bytes per read
            string first = r.Out.Split('\n').First(l => l.StartsWith("00000007:", StringComparison.Ordinal));
            Assert.StartsWith($"00000007:  {data[7]:x2} {data[8]:x2} {data[9]:x2}", first);
        }
        Assert.False(File.Exists(sock), "the socket is removed when the server stops");
    }

    [Fact]
    public async Task The_export_is_read_only_and_a_write_request_gets_EPERM()
    {
        var data = Pattern(1024 * 1024);
        string sock = Path.Combine(_dir, "w.sock");
        await using var server = NbdExportServer.Start(new MemoryFile(data), sock);
        // qemu sees the read-only flag and will not open the export for writing.
        var r = await RunAsync("qemu-io", "-f", "raw", $"nbd+unix:///?socket={sock}", "-c", "write -P 0x55 0 4096");
        Assert.Contains("Permission denied", r.Out + r.Err);
        // A client that writes anyway: handshake (EXPORT_NAME), one WRITE of 512 bytes, its reply.
        using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(sock));
        await using var ns = new System.Net.Sockets.NetworkStream(s);
        var hello = new byte[18];
        await ns.ReadExactlyAsync(hello);
        Assert.Equal("NBDMAGICIHAVEOPT", Encoding.ASCII.GetString(hello, 0, 16));
        var msg = new byte[4 + 16];
        BinaryPrimitives.WriteUInt32BigEndian(msg, 2); // client flags: no zeroes
        BinaryPrimitives.WriteUInt64BigEndian(msg.AsSpan(4), 0x49484156454F5054);
        BinaryPrimitives.WriteUInt32BigEndian(msg.AsSpan(12), 1); // NBD_OPT_EXPORT_NAME, empty name
        await ns.WriteAsync(msg);
        var info = new byte[10];
        await ns.ReadExactlyAsync(info);
        Assert.Equal((ulong)data.Length, BinaryPrimitives.ReadUInt64BigEndian(info));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16BigEndian(info.AsSpan(8)) & 2); // NBD_FLAG_READ_ONLY
        var req = new byte[28 + 512];
        BinaryPrimitives.WriteUInt32BigEndian(req, 0x25609513);
        BinaryPrimitives.WriteUInt16BigEndian(req.AsSpan(6), 1); // NBD_CMD_WRITE
        BinaryPrimitives.WriteUInt64BigEndian(req.AsSpan(8), 77);
        BinaryPrimitives.WriteUInt32BigEndian(req.AsSpan(24), 512);
        await ns.WriteAsync(req);
        var reply = new byte[16];
        await ns.ReadExactlyAsync(reply);
        Assert.Equal(0x67446698u, BinaryPrimitives.ReadUInt32BigEndian(reply));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(4))); // EPERM
        Assert.Equal(77ul, BinaryPrimitives.ReadUInt64BigEndian(reply.AsSpan(8)));
    }

    [Fact]
    public async Task A_failing_request_is_retried_and_a_silent_one_times_out_as_an_error()
    {
        var data = Pattern(256 * 1024);
        var flaky = new MemoryFile(data) { FailFirst = 2 };
        var buf = new byte[100];
        await flaky.ReadAsync(70000, buf, CancellationToken.None);
        Assert.Equal(data.AsSpan(70000, 100).ToArray(), buf);
        Assert.Equal(3, flaky.Fetches);
        // The same chunk again comes from the cache.
        await flaky.ReadAsync(70100, buf, CancellationToken.None);
        Assert.Equal(3, flaky.Fetches);

        var silent = new MemoryFile(data) { Stall = true, RequestTimeout = TimeSpan.FromMilliseconds(300), Attempts = 2 };
        var e = await Assert.ThrowsAsync<TimeoutException>(() => silent.ReadAsync(0, buf, CancellationToken.None));
        Assert.Contains("mem://test.img", e.Message);
        Assert.Equal(2, silent.Fetches);
    }

    [Fact]
    public void Errors_read_as_one_line_without_dotnet_boilerplate()
    {
        var e = new InvalidOperationException("The SSL connection could not be established, see inner exception.",
            new IOException("The remote certificate is invalid: UntrustedRoot"));
        Assert.Equal("The SSL connection could not be established: The remote certificate is invalid: UntrustedRoot", RemoteFile.Describe(e));
        var nbd = new NbdDriveSource(null, "/tmp/x.sock", null) { ShownAs = "https://h/d.img" };
        Assert.Equal("https://h/d.img", nbd.Display);
    }
}
