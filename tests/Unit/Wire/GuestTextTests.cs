using System;
using System.Linq;
using System.Text;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

/// <summary>Names that are not UTF-8 survive the trip from the daemon and back, byte for byte.</summary>
public sealed class GuestTextTests
{
    [Theory]
    [InlineData(new byte[] { (byte)'b', (byte)'a', (byte)'d', 0xff, (byte)'n' })]
    [InlineData(new byte[] { (byte)'h', 0xc3, 0x28 })]
    [InlineData(new byte[] { 0xe2, 0x82 })]                 // truncated sequence at the end
    [InlineData(new byte[] { 0xed, 0xb2, 0x80 })]           // an encoded surrogate is not UTF-8
    [InlineData(new byte[] { 0xc3, 0xa9, 0x80, 0xf0, 0x9f, 0x98, 0x80 })] // é, a stray continuation, an emoji
    public void Invalid_UTF8_round_trips_byte_for_byte(byte[] name)
    {
        string s = GuestText.Decode(name);
        Assert.True(GuestText.HasEscapes(s));
        Assert.Equal(name, GuestText.Encode(s));
        // And through the XDR writer and reader, as a call argument and a reply.
        using var w = new XdrWriter();
        w.WriteString(s);
        byte[] body = w.Body.ToArray();
        var r = new XdrReader(body);
        Assert.Equal(s, r.ReadString());
        Assert.Equal(name, body.Skip(4).Take(name.Length).ToArray());
    }

    [Fact]
    public void Valid_UTF8_is_unchanged()
    {
        foreach (var text in new[] { "", "plain", "naïve €", "😀 emoji", "日本語" })
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(text);
            Assert.Equal(text, GuestText.Decode(utf8));
            Assert.False(GuestText.HasEscapes(text));
            Assert.Equal(utf8, GuestText.Encode(text));
        }
    }

    [Fact]
    public void Two_different_invalid_names_stay_different()
    {
        string a = GuestText.Decode(new byte[] { (byte)'x', 0xff });
        string b = GuestText.Decode(new byte[] { (byte)'x', 0xfe });
        Assert.NotEqual(a, b);
    }
}
