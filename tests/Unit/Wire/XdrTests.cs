using System;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

public sealed class XdrTests
{
    private static byte[] Body(Action<XdrWriter> write)
    {
        using var w = new XdrWriter();
        write(w);
        return w.Body.ToArray();
    }

    [Fact]
    public void Every_primitive_round_trips()
    {
        var bytes = Body(w =>
        {
            w.WriteInt32(-5); w.WriteUInt32(0xFFFFFFFE); w.WriteInt64(long.MinValue); w.WriteUInt64(ulong.MaxValue);
            w.WriteBool(true); w.WriteBool(false); w.WriteChar('d'); w.WriteSingle(-1f);
            w.WriteString("héllo"); w.WriteOptionalString(null); w.WriteOptionalString("x");
            w.WriteStringArray(new[] { "a", "", "bcde" }); w.WriteOpaque(new byte[] { 1, 2, 3 });
            w.WriteFixedOpaque(new byte[32]);
        });
        var r = new XdrReader(bytes);
        Assert.Equal(-5, r.ReadInt32());
        Assert.Equal(0xFFFFFFFEu, r.ReadUInt32());
        Assert.Equal(long.MinValue, r.ReadInt64());
        Assert.Equal(ulong.MaxValue, r.ReadUInt64());
        Assert.True(r.ReadBool());
        Assert.False(r.ReadBool());
        Assert.Equal('d', r.ReadChar());
        Assert.Equal(-1f, r.ReadSingle());
        Assert.Equal("héllo", r.ReadString());
        Assert.Null(r.ReadOptionalString());
        Assert.Equal("x", r.ReadOptionalString());
        Assert.Equal(new[] { "a", "", "bcde" }, r.ReadStringArray());
        Assert.Equal(new byte[] { 1, 2, 3 }, r.ReadOpaque());
        Assert.Equal(32, r.ReadFixedOpaqueSpan(32).Length);
        r.EnsureAtEnd("test");
        Assert.Equal(0, bytes.Length % 4);
    }

    [Fact]
    public void The_mount_request_matches_the_documented_bytes()
    {
        using var w = new XdrWriter();
        MessageHeader.Call(1, 0x123405, 0, 0).Write(w);
        w.WriteString("/dev/sda1");
        w.WriteString("/");
        var frame = Convert.ToHexString(w.GetFrame().Span).ToLowerInvariant();
        Assert.Equal(
            "00000040" + "2000f5f5000000040000000100000000" + "00123405000000000000000000000000" + "0000000000000000" +
            "000000092f6465762f73646131000000" + "000000012f000000", frame);
    }

    [Fact]
    public void Mkfs_with_a_label_sets_bit_4_and_is_88_bytes()
    {
        using var w = new XdrWriter();
        MessageHeader.Call(278, 1, 0, 0x10).Write(w);
        w.WriteString("ext4"); w.WriteString("/dev/sda1");
        w.WriteInt32(0); w.WriteString(""); w.WriteInt32(0); w.WriteInt32(0); w.WriteString("DATA");
        Assert.Equal(88, w.Length);
        var r = new XdrReader(w.Body.ToArray());
        Assert.Equal(0x10ul, MessageHeader.Read(ref r).OptargsBitmask);
    }

    [Theory]
    [InlineData("abc", false, "0000000c000000000000000361626300")]
    [InlineData("", false, "000000080000000000000000")]
    [InlineData("", true, "000000080000000100000000")]
    public void File_chunks_encode_as_documented(string data, bool cancel, string hex)
    {
        using var w = new XdrWriter();
        w.WriteInt32(cancel ? 1 : 0);
        w.WriteOpaque(System.Text.Encoding.ASCII.GetBytes(data));
        Assert.Equal(hex, Convert.ToHexString(w.GetFrame().Span).ToLowerInvariant());
    }

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "truncated int", new byte[] { 0, 0, 1 } },
        { "string length past the end", new byte[] { 0, 0, 0, 9, (byte)'a', 0, 0, 0 } },
        { "non-zero padding", new byte[] { 0, 0, 0, 1, (byte)'a', 1, 0, 0 } },
        { "huge count", new byte[] { 0xFF, 0xFF, 0xFF, 0xFF } },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_strings_and_arrays_throw_XdrException(string what, byte[] bytes)
    {
        Assert.Throws<XdrException>(() => { var r = new XdrReader(bytes); _ = what == "huge count" ? r.ReadStringArray().Length : r.ReadString().Length; });
    }

    [Fact]
    public void A_bool_other_than_0_or_1_and_a_bad_presence_word_are_refused()
    {
        Assert.Throws<XdrException>(() => { var r = new XdrReader(new byte[] { 0, 0, 0, 2 }); r.ReadBool(); });
        Assert.Throws<XdrException>(() => { var r = new XdrReader(new byte[] { 0, 0, 0, 2, 0, 0, 0, 0 }); r.ReadOptionalString(); });
    }

    [Fact]
    public void A_hostile_count_allocates_nothing_in_proportion()
    {
        var bytes = new byte[] { 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0 };
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<XdrException>(() => { var r = new XdrReader(bytes); r.ReadStringArray(); });
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 100_000);
    }

    [Fact]
    public void String_bounds_are_enforced()
    {
        var bytes = Body(w => w.WriteString(new string('E', 40)));
        Assert.Throws<XdrException>(() => { var r = new XdrReader(bytes); r.ReadString(ProtocolConstants.ErrnoStringMax); });
    }

    [Fact]
    public void Strings_with_NUL_cannot_be_sent() =>
        Assert.Throws<ArgumentException>(() => Body(w => w.WriteString("a\0b")));

    [Fact]
    public void The_error_offset_points_into_the_message()
    {
        var e = Assert.Throws<XdrException>(() => { var r = new XdrReader(new byte[] { 0, 0, 0, 1, 0, 0, 0 }); r.ReadInt32(); r.ReadInt32(); });
        Assert.Equal(4, e.Offset);
    }
}
