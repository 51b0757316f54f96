using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

/// <summary>
/// Seeded fuzzing of everything that reads daemon bytes: random and mutated
/// reply frames through the channel, and random/mutated bodies through every
/// struct decoder. The only acceptable outcomes are a value, or one of our
/// documented exceptions (GuestFsException and its protocol subclass from the
/// channel, XdrException from the decoders); never another exception type, a
/// hang, or an allocation beyond the protocol's message limit. Any case that
/// breaks this is printed with its seed so it can become a regression test.
/// </summary>
public sealed class DecoderFuzzTests
{
    private const int Seed = 20261125;
    private const int ChannelCases = 60_000;
    private const int StructCases = 60_000;
    // A frame may legally be 4 MiB; the reader may hold one frame plus its read buffer.
    private const long AllocationCeiling = ProtocolConstants.MessageMax + 512 * 1024;

    private static readonly string[] StructNames =
    {
        "int_bool", "lvm_pv", "lvm_vg", "lvm_lv", "stat", "statns", "statvfs", "dirent", "version", "xattr",
        "inotify_event", "partition", "application", "application2", "isoinfo", "mdstat", "btrfssubvolume",
        "btrfsqgroup", "btrfsbalance", "btrfsscrub", "xfsinfo", "utsname", "hivex_node", "hivex_value",
        "internal_mountable", "tsk_dirent", "yara_detection",
    };

    /// <summary>A stream that swallows what the channel writes and serves fixed bytes, then EOF; every read completes synchronously.</summary>
    private sealed class ScriptedStream : Stream
    {
        private readonly byte[] _data;
        private int _pos;
        public ScriptedStream(byte[] data) { _data = data; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(count, _data.Length - _pos);
            Array.Copy(_data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) { }
        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, _data.Length - _pos);
            _data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => default;
        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static byte[] Frame(Action<XdrWriter> body)
    {
        using var w = new XdrWriter();
        body(w);
        return w.GetFrame().ToArray();
    }

    private static byte[] Reply(int proc, uint serial, int status, Action<XdrWriter>? body) => Frame(w =>
    {
        new MessageHeader(ProtocolConstants.Program, ProtocolConstants.Version, proc, ProtocolConstants.DirectionReply, serial, 0, 0, status).Write(w);
        body?.Invoke(w);
    });

    /// <summary>Valid replies of several shapes, as seeds for mutation.</summary>
    private static List<(byte[] Bytes, int Kind)> Seeds()
    {
        uint s = ProtocolConstants.FirstSerial;
        var list = new List<(byte[], int)>
        {
            (Reply(1, s, 0, w => w.WriteBool(true)), 0),
            (Reply(1, s, 0, w => w.WriteString("/dev/sda1")), 1),
            (Reply(1, s, 0, w => w.WriteStringArray(new[] { "/dev/sda", "/dev/sda1", "ext4", "" })), 2),
            (Reply(1, s, 0, w => { for (int i = 0; i < 22; i++) w.WriteInt64(i); }), 3),
            (Reply(1, s, 0, w => w.WriteOpaque(new byte[] { 1, 2, 3, 4, 5 })), 4),
            (Reply(1, s, 1, w => { w.WriteString("ENOENT"); w.WriteString("/x: No such file or directory"); }), 1),
        };
        // A progress message and a cancel flag in front of a reply.
        var p = new byte[4 + 24];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(p, ProtocolConstants.ProgressFlag);
        list.Add((p.Concat(list[1].Item1).ToArray(), 1));
        var c = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(c, ProtocolConstants.CancelFlag);
        list.Add((c.Concat(list[2].Item1).ToArray(), 2));
        return list;
    }

    private static readonly ReplyDecoder<object?>[] Decoders =
    {
        (ref XdrReader r) => r.ReadBool(),
        (ref XdrReader r) => r.ReadString(),
        (ref XdrReader r) => r.ReadStringArray(),
        (ref XdrReader r) => GuestStatns.Read(ref r),
        (ref XdrReader r) => r.ReadOpaque(),
    };

    private static byte[] Mutate(Random rnd, byte[] seed)
    {
        var b = seed.ToList();
        int edits = 1 + rnd.Next(4);
        for (int e = 0; e < edits && b.Count > 0; e++)
        {
            switch (rnd.Next(7))
            {
                case 0: b[rnd.Next(b.Count)] ^= (byte)(1 << rnd.Next(8)); break;                  // bit flip
                case 1: b[rnd.Next(b.Count)] = (byte)rnd.Next(256); break;                         // byte
                case 2: { int at = rnd.Next(b.Count); b.RemoveRange(at, 1 + rnd.Next(Math.Min(8, b.Count - at))); break; } // cut
                case 3: b.InsertRange(rnd.Next(b.Count + 1), Enumerable.Range(0, 1 + rnd.Next(8)).Select(_ => (byte)rnd.Next(256))); break;
                case 4: b = b.Take(rnd.Next(b.Count + 1)).ToList(); break;                         // truncate
                case 5:                                                                           // an interesting word somewhere aligned
                {
                    uint[] words = { 0, 1, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, (uint)ProtocolConstants.MessageMax, (uint)ProtocolConstants.MessageMax + 1, 0x00400004, 0xFFFF5555, 0xFFFFEEEE, 0xF5F55FF5 };
                    if (b.Count < 4) break;
                    int at = rnd.Next(b.Count / 4) * 4;
                    uint w = words[rnd.Next(words.Length)];
                    b[at] = (byte)(w >> 24); b[at + 1] = (byte)(w >> 16); b[at + 2] = (byte)(w >> 8); b[at + 3] = (byte)w;
                    break;
                }
                default: b.AddRange(b.Take(Math.Min(b.Count, rnd.Next(64)))); break;              // repeat a prefix
            }
        }
        return b.ToArray();
    }

    [Fact]
    public void Random_and_mutated_reply_frames_never_escape_the_documented_errors()
    {
        var rnd = new Random(Seed);
        var seeds = Seeds();
        var request = new RpcRequest(1, "fuzz");
        int values = 0, errors = 0;
        for (int i = 0; i < ChannelCases; i++)
        {
            byte[] input;
            int kind;
            if (rnd.Next(5) == 0)
            {
                input = new byte[rnd.Next(96)];
                rnd.NextBytes(input);
                kind = rnd.Next(Decoders.Length);
            }
            else
            {
                var (bytes, k) = seeds[rnd.Next(seeds.Count)];
                input = Mutate(rnd, bytes);
                kind = rnd.Next(3) == 0 ? rnd.Next(Decoders.Length) : k;
            }
            using var ch = new DaemonChannel(new ScriptedStream(input));
            long before = GC.GetAllocatedBytesForCurrentThread();
            var task = ch.CallAsync(request, Decoders[kind]);
            // The stream completes synchronously and ends in EOF: the call must be over.
            Assert.True(task.IsCompleted, $"case {i} (seed {Seed}) did not complete: {Convert.ToHexString(input)}");
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < AllocationCeiling, $"case {i} allocated {allocated} bytes: {Convert.ToHexString(input)}");
            if (task.IsCompletedSuccessfully) { values++; continue; }
            var e = task.Exception!.InnerException!;
            Assert.True(e is GuestFsException, $"case {i} threw {e.GetType().Name}: {e.Message}\ninput {Convert.ToHexString(input)}");
            errors++;
        }
        Assert.Equal(ChannelCases, values + errors);
        Assert.True(values > 100 && errors > 100, $"the generator should produce both outcomes (values {values}, errors {errors})");
    }

    [Fact]
    public void Random_and_mutated_struct_bodies_only_ever_throw_XdrException()
    {
        var rnd = new Random(Seed + 1);
        var decoders = StructNames.SelectMany(n => new[] { StructDecoders.Single(n), StructDecoders.List(n) })
            .Where(d => d is not null).Select(d => d!).ToArray();
        Assert.Equal(StructNames.Length * 2, decoders.Length);
        // Valid-ish seed bodies: a count followed by plausible fields.
        var seedBodies = new List<byte[]>();
        for (int i = 0; i < 32; i++)
        {
            var b = new byte[rnd.Next(8, 400)];
            rnd.NextBytes(b);
            b[0] = 0; b[1] = 0; b[2] = 0; b[3] = (byte)rnd.Next(4); // small list count
            seedBodies.Add(b);
        }
        int ok = 0;
        for (int i = 0; i < StructCases; i++)
        {
            var body = rnd.Next(3) == 0 ? RandomBytes(rnd, rnd.Next(200)) : Mutate(rnd, seedBodies[rnd.Next(seedBodies.Count)]);
            var decoder = decoders[rnd.Next(decoders.Length)];
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var r = new XdrReader(body);
                decoder(ref r);
                ok++;
            }
            catch (XdrException) { }
            catch (Exception e)
            {
                Assert.Fail($"struct case {i} threw {e.GetType().Name}: {e.Message}\nbody {Convert.ToHexString(body)}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < AllocationCeiling, $"struct case {i} allocated {allocated} bytes for a {body.Length}-byte body");
        }
        Assert.True(ok > 0);
    }

    private static byte[] RandomBytes(Random rnd, int n)
    {
        var b = new byte[n];
        rnd.NextBytes(b);
        return b;
    }
}
