using System;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;
using GuestFs.Tests.Wire;

namespace GuestFs.Micro;

public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "loop")
        {
            var b = new ChannelBenchmarks { FileBytes = 1 << 20 };
            b.Setup();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < int.Parse(Environment.GetEnvironmentVariable("LOOP_CALLS") ?? "200000"); i++)
            {
                var t = Task.Run(() => b.SmallCall());
                if (!t.Wait(5000)) { Console.WriteLine($"call {i} hung"); return; }
                if (i % 20000 == 0) Console.WriteLine($"{i} {sw.Elapsed}");
            }
            for (int i = 0; i < 50; i++)
            {
                if (!Task.Run(() => b.UploadFile()).Wait(5000)) { Console.WriteLine($"upload {i} hung"); return; }
                if (!Task.Run(() => b.DownloadFile()).Wait(5000)) { Console.WriteLine($"download {i} hung"); return; }
            }
            Console.WriteLine("ok " + sw.Elapsed);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}

/// <summary>Encoding a request and decoding typical replies: no I/O.</summary>
[MemoryDiagnoser]
public class XdrBenchmarks
{
    private readonly XdrWriter _writer = new(256, ProtocolConstants.MessageMax);
    private byte[] _statnsReply = Array.Empty<byte>();
    private byte[] _namesReply = Array.Empty<byte>();

    [GlobalSetup]
    public void Setup()
    {
        using var w = new XdrWriter();
        for (int i = 0; i < 22; i++) w.WriteInt64(i * 1000L);
        _statnsReply = w.Body.ToArray();
        using var n = new XdrWriter();
        var names = new string[1000];
        for (int i = 0; i < names.Length; i++) names[i] = $"file-{i:D5}.conf";
        n.WriteStringArray(names);
        _namesReply = n.Body.ToArray();
    }

    [Benchmark(Description = "encode call header + path argument")]
    public int EncodeRequest()
    {
        _writer.Reset();
        MessageHeader.Call(36, 0x123400, 0, 0).Write(_writer);
        _writer.WriteString("/etc/ssh/sshd_config");
        return _writer.GetFrame().Length;
    }

    [Benchmark(Description = "decode statns reply")]
    public long DecodeStatns()
    {
        var r = new XdrReader(_statnsReply);
        return GuestStatns.Read(ref r).StSize;
    }

    [Benchmark(Description = "decode 1,000-name string list")]
    public int DecodeNames()
    {
        var r = new XdrReader(_namesReply);
        return r.ReadStringArray().Length;
    }
}

/// <summary>
/// Whole calls and transfers over a unix socket pair against a lean daemon thread that
/// answers from prebuilt frames and discards uploads into one fixed buffer, so the
/// allocations reported are the engine's own.
/// </summary>
[MemoryDiagnoser]
public class ChannelBenchmarks
{
    private const int Exists = 36, Upload = 66, Download = 67;
    private Socket _daemonSide = null!;
    private Thread _daemon = null!;
    private DaemonChannel _channel = null!;
    private byte[] _file = Array.Empty<byte>();
    private byte[] _fileFrames = Array.Empty<byte>();
    private readonly RpcRequest _exists = new(Exists, "exists", 0, w => w.WriteString("/etc"));
    private readonly RpcRequest _upload = new(Upload, "upload", 0, w => w.WriteString("/f"));
    private readonly RpcRequest _download = new(Download, "download", 0, w => w.WriteString("/f"));

    [Params(8 * 1024 * 1024, 64 * 1024 * 1024)]
    public int FileBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _file = new byte[FileBytes];
        new Random(1).NextBytes(_file);
        using (var w = new MemoryStream())
        {
            for (int off = 0; off <= _file.Length; off += ProtocolConstants.ChunkMax)
            {
                int n = Math.Min(ProtocolConstants.ChunkMax, _file.Length - off);
                WriteWord(w, (uint)(8 + ((n + 3) & ~3)));
                WriteWord(w, 0);
                WriteWord(w, (uint)n);
                w.Write(_file, off, n);
                for (int p = n; (p & 3) != 0; p++) w.WriteByte(0);
                if (n == 0) break;
                if (off + n == _file.Length) { WriteWord(w, 8); WriteWord(w, 0); WriteWord(w, 0); break; }
            }
            _fileFrames = w.ToArray();
        }
        var (server, client) = FakeDaemon.SocketPair();
        _daemonSide = server;
        _daemon = new Thread(Serve) { IsBackground = true, Name = "lean daemon" };
        _daemon.Start();
        _channel = new DaemonChannel(new NetworkStream(client, ownsSocket: true));
        _channel.WaitForLaunchFlagAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    private static void WriteWord(Stream s, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        s.Write(b);
    }

    private void Serve()
    {
        var buf = new byte[ProtocolConstants.MessageMax + 4];
        var reply = new byte[4 + ProtocolConstants.HeaderSize + 4];
        void ReadExactly(int count) { int got = 0; while (got < count) { int n = _daemonSide.Receive(buf, got, count - got, SocketFlags.None); if (n == 0) throw new EndOfStreamException(); got += n; } }
        int ReadFrame() { ReadExactly(4); int len = (int)BinaryPrimitives.ReadUInt32BigEndian(buf); ReadExactly(len); return len; }
        void Reply(int proc, uint serial, bool withBool)
        {
            using var w = new XdrWriter(64);
            new MessageHeader(ProtocolConstants.Program, ProtocolConstants.Version, proc, ProtocolConstants.DirectionReply, serial, 0, 0, ProtocolConstants.StatusOk).Write(w);
            if (withBool) w.WriteBool(true);
            _daemonSide.Send(w.GetFrame().Span);
        }
        try
        {
            BinaryPrimitives.WriteUInt32BigEndian(buf, ProtocolConstants.LaunchFlag);
            _daemonSide.Send(buf, 0, 4, SocketFlags.None);
            while (true)
            {
                ReadFrame();
                int proc = BinaryPrimitives.ReadInt32BigEndian(buf.AsSpan(8));
                uint serial = BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(16));
                switch (proc)
                {
                    case Exists: Reply(proc, serial, true); break;
                    case Upload:
                        while (true)
                        {
                            ReadFrame();
                            if (BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(4)) == 0) break; // end (or cancel) chunk: [cancel][datalen]
                        }
                        Reply(proc, serial, false);
                        break;
                    case Download:
                        Reply(proc, serial, false);
                        _daemonSide.Send(_fileFrames);
                        break;
                }
            }
        }
        catch (Exception) { /* the channel was closed */ }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _channel.Dispose();
        _daemonSide.Dispose();
        _daemon.Join(5000);
    }

    [Benchmark(Description = "one small call (exists) round trip")]
    public bool SmallCall() => _channel.CallAsync(_exists, XdrDecoders.Bool).GetAwaiter().GetResult();

    [Benchmark(Description = "upload (chunked FileIn)")]
    public long UploadFile()
    {
        var t = FileTransfer.Upload(new MemoryStream(_file, writable: false), _file.Length);
        _channel.CallAsync(_upload, XdrDecoders.Void, t).GetAwaiter().GetResult();
        return t.BytesTransferred;
    }

    [Benchmark(Description = "download (chunked FileOut)")]
    public long DownloadFile()
    {
        var t = FileTransfer.Download(Stream.Null);
        _channel.CallAsync(_download, XdrDecoders.Void, t).GetAwaiter().GetResult();
        return t.BytesTransferred;
    }
}
