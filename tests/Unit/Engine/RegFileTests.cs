using System;
using System.IO;
using System.Linq;
using System.Text;
using GuestFs.Engine.Library.Registry;
using GuestFs.PowerShell.Registry;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>The .reg parser and writer (RegFile), value typing (RegData) and registry path mapping, without an appliance.</summary>
public sealed class RegFileTests
{
    private static string Reg5(params string[] lines) => RegFile.Header5 + "\r\n\r\n" + string.Join("\r\n", lines) + "\r\n";

    [Fact]
    public void Parses_every_value_form_of_REGEDIT5()
    {
        var ops = RegFile.Parse(Reg5(
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Test]",
            "\"Str\"=\"a \\\"quoted\\\" C:\\\\path\"",
            "@=\"default\"",
            "\"D\"=dword:0000002a",
            "\"Neg\"=dword:ffffffff",
            "\"Bin\"=hex:de,ad,be,ef",
            "\"Exp\"=hex(2):25,00,53,00,00,00",
            "\"Multi\"=hex(7):61,00,00,00,62,00,00,00,00,00",
            "\"Q\"=hex(b):08,07,06,05,04,03,02,01",
            "\"None\"=hex(0):",
            "\"Gone\"=-",
            @"[-HKEY_LOCAL_MACHINE\SOFTWARE\Old]"));
        Assert.Equal(12, ops.Count);
        var key = Assert.IsType<RegKeyOperation>(ops[0]);
        Assert.False(key.Delete);
        Assert.Equal(@"HKEY_LOCAL_MACHINE\SOFTWARE\Test", key.KeyPath);
        var values = ops.OfType<RegValueOperation>().ToDictionary(v => v.Name);
        Assert.Equal("a \"quoted\" C:\\path", values["Str"].Type == RegType.String ? RegData.DecodeString(values["Str"].Data!) : null);
        Assert.Equal("default", RegData.DecodeString(values[""].Data!));
        Assert.Equal(42, RegData.ToObject(values["D"].Type, values["D"].Data!));
        Assert.Equal(-1, RegData.ToObject(values["Neg"].Type, values["Neg"].Data!));
        Assert.Equal(new byte[] { 0xde, 0xad, 0xbe, 0xef }, RegData.ToObject(values["Bin"].Type, values["Bin"].Data!));
        Assert.Equal(RegType.ExpandString, values["Exp"].Type);
        Assert.Equal("%S", RegData.ToObject(values["Exp"].Type, values["Exp"].Data!));
        Assert.Equal(new[] { "a", "b" }, RegData.ToObject(values["Multi"].Type, values["Multi"].Data!));
        Assert.Equal(0x0102030405060708L, RegData.ToObject(values["Q"].Type, values["Q"].Data!));
        Assert.Equal(RegType.None, values["None"].Type);
        Assert.Empty(values["None"].Data!);
        Assert.Null(values["Gone"].Data);
        Assert.True(Assert.IsType<RegKeyOperation>(ops[^1]).Delete);
        Assert.Equal(4, ops[1].Line);
    }

    [Fact]
    public void Joins_hex_continuation_lines_and_skips_comments()
    {
        var ops = RegFile.Parse(Reg5(
            "; a comment",
            @"[HKEY_LOCAL_MACHINE\SYSTEM\X]",
            "\"B\"=hex:01,02,\\",
            "  03,04,\\",
            "  05",
            "\"S\"=\"ends in a backslash\\\\\""));
        var v = ops.OfType<RegValueOperation>().ToArray();
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, v[0].Data);
        Assert.Equal(5, v[0].Line);
        Assert.Equal("ends in a backslash\\", RegData.DecodeString(v[1].Data!));
    }

    [Fact]
    public void REGEDIT4_holds_8_bit_text_in_hex2_and_reads_as_UTF16()
    {
        var ops = RegFile.Parse("REGEDIT4\n\n[HKEY_USERS\\.DEFAULT\\X]\n\"E\"=hex(2):25,41,25,00\n\"S\"=\"caf\u00e9\"\n");
        var v = ops.OfType<RegValueOperation>().ToArray();
        Assert.Equal("%A%", RegData.DecodeString(v[0].Data!));
        Assert.Equal(Encoding.Unicode.GetBytes("%A%\0"), v[0].Data);
        Assert.Equal("caf\u00e9", RegData.DecodeString(v[1].Data!));
    }

    [Fact]
    public void Decodes_UTF16_and_UTF8_with_or_without_BOM()
    {
        string text = Reg5(@"[HKEY_LOCAL_MACHINE\SOFTWARE\T]", "\"N\"=\"\u00fcber\"");
        Assert.Equal(text, RegFile.Decode(RegFile.ToBytes(text)));
        Assert.Equal(text, RegFile.Decode(Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(text)).ToArray()));
        Assert.Equal(text, RegFile.Decode(Encoding.UTF8.GetBytes(text)));
    }

    [Theory]
    [InlineData("not a header\n", 1, "expected")]
    [InlineData("Windows Registry Editor Version 5.00\n\n\"x\"=\"y\"\n", 3, "before any [KEY]")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\"=dword:xyz\n", 4, "dword")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\"=hex:01,zz\n", 4, "not a byte")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A\n", 3, "']'")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\"=\"open\n", 4, "closing")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\" \"y\"\n", 4, "'='")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\"=dword:1\n\n\ngarbage\n", 7, "expected [KEY]")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\"=hex(zz):00\n", 4, "hex(N)")]
    [InlineData("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\A]\n\"x\"=hex:01,\\\n", 4, "continues")]
    public void A_syntax_error_names_its_line(string text, int line, string words)
    {
        var e = Assert.Throws<RegFormatException>(() => RegFile.Parse(text));
        Assert.Equal(line, e.Line);
        Assert.Contains(words, e.Message);
        Assert.StartsWith($"line {line}:", e.Message);
    }

    [Fact]
    public void Writes_what_reg_exe_writes()
    {
        var sw = new StringWriter();
        var w = new RegFile.Writer(sw);
        w.WriteKey(@"HKEY_LOCAL_MACHINE\SOFTWARE\T", new[]
        {
            new RegValue("", RegType.String, RegData.EncodeString("def")),
            new RegValue("Path", RegType.String, RegData.EncodeString("C:\\x \"y\"")),
            new RegValue("D", RegType.DWord, RegData.EncodeDWord(42)),
            new RegValue("E", RegType.ExpandString, RegData.EncodeString("%A%")),
            new RegValue("M", RegType.MultiString, RegData.EncodeMulti(new[] { "a" })),
            new RegValue("Q", RegType.QWord, RegData.EncodeQWord(1)),
            new RegValue("B", RegType.Binary, new byte[] { 0xde, 0xad }),
            new RegValue("N", RegType.None, Array.Empty<byte>()),
        });
        string expected = string.Join("\r\n",
            "Windows Registry Editor Version 5.00",
            "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\T]",
            "@=\"def\"",
            "\"Path\"=\"C:\\\\x \\\"y\\\"\"",
            "\"D\"=dword:0000002a",
            "\"E\"=hex(2):25,00,41,00,25,00,00,00",
            "\"M\"=hex(7):61,00,00,00,00,00",
            "\"Q\"=hex(b):01,00,00,00,00,00,00,00",
            "\"B\"=hex:de,ad",
            "\"N\"=hex(0):",
            "", "");
        Assert.Equal(expected, sw.ToString());
        var bytes = RegFile.ToBytes(sw.ToString());
        Assert.Equal(new byte[] { 0xFF, 0xFE, (byte)'W', 0 }, bytes.Take(4).ToArray());
    }

    [Fact]
    public void Long_hex_data_wraps_below_80_columns_and_reads_back()
    {
        var data = Enumerable.Range(0, 200).Select(i => (byte)i).ToArray();
        string line = RegFile.FormatValue(new RegValue("LongBinaryValueName", RegType.Binary, data));
        var lines = line.Split("\r\n");
        Assert.True(lines.Length > 3);
        Assert.All(lines, l => Assert.True(l.Length <= 80, l));
        Assert.All(lines.Take(lines.Length - 1), l => Assert.EndsWith(",\\", l));
        Assert.All(lines.Skip(1), l => Assert.StartsWith("  ", l));
        var back = RegFile.Parse(Reg5(@"[HKLM\SOFTWARE\X]", line)).OfType<RegValueOperation>().Single();
        Assert.Equal(data, back.Data);
    }

    [Fact]
    public void Strings_that_the_quoted_form_cannot_carry_are_written_as_hex1()
    {
        var odd = new RegValue("S", RegType.String, new byte[] { 0x41, 0x00 }); // no terminating NUL
        Assert.Equal("\"S\"=hex(1):41,00", RegFile.FormatValue(odd));
        var lines = new RegValue("L", RegType.String, RegData.EncodeString("a\r\nb"));
        Assert.StartsWith("\"L\"=hex(1):", RegFile.FormatValue(lines));
    }

    [Fact]
    public void Written_files_parse_back_to_the_same_values()
    {
        var values = new[]
        {
            new RegValue("", RegType.String, RegData.EncodeString("x")),
            new RegValue("we\"ird\\name", RegType.MultiString, RegData.EncodeMulti(new[] { "one", "two" })),
            new RegValue("q", RegType.QWord, RegData.EncodeQWord(-5)),
            new RegValue("big", 0x20, new byte[] { 1, 2, 3 }),
        };
        var sw = new StringWriter();
        new RegFile.Writer(sw).WriteKey(@"HKEY_LOCAL_MACHINE\SYSTEM\K", values);
        var back = RegFile.Parse(RegFile.Decode(RegFile.ToBytes(sw.ToString()))).OfType<RegValueOperation>().ToArray();
        Assert.Equal(values.Select(v => (v.Name, v.Type, Convert.ToHexString(v.Data))), back.Select(v => (v.Name, v.Type, Convert.ToHexString(v.Data!))));
    }

    [Fact]
    public void Values_are_typed_as_the_Registry_provider_types_them()
    {
        Assert.Equal("abc", RegData.ToObject(RegType.String, Encoding.Unicode.GetBytes("abc\0junk")));
        Assert.IsType<int>(RegData.ToObject(RegType.DWord, new byte[4]));
        Assert.IsType<long>(RegData.ToObject(RegType.QWord, new byte[8]));
        Assert.IsType<byte[]>(RegData.ToObject(RegType.DWord, new byte[3]));
        Assert.Equal(Array.Empty<string>(), RegData.ToObject(RegType.MultiString, new byte[] { 0, 0 }));
        Assert.Equal("MultiString", RegType.Name(RegType.MultiString));
        Assert.Equal(RegType.QWord, RegType.Parse("qword"));
        Assert.Null(RegType.Parse("Float"));
    }

    [Fact]
    public void Registry_paths_map_to_hives_as_virt_win_reg_maps_them()
    {
        var p = GuestRegistryState.ParsePath(@"HKLM\software\Microsoft\Windows");
        Assert.Equal(("SOFTWARE", @"HKEY_LOCAL_MACHINE\SOFTWARE"), (p.Hive, p.Prefix));
        Assert.Equal(new[] { "Microsoft", "Windows" }, p.Segments);
        Assert.Equal(@"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows", p.FullName);
        Assert.Equal("SYSTEM", GuestRegistryState.ParsePath("HKEY_LOCAL_MACHINE/SYSTEM/CurrentControlSet").Hive);
        Assert.Equal("DEFAULT", GuestRegistryState.ParsePath(@"HKU\.DEFAULT\Control Panel").Hive);
        Assert.Equal(@"HKEY_LOCAL_MACHINE\SOFTWARE\Classes", GuestRegistryState.ParsePath(@"HKLM:\SOFTWARE\Classes").FullName);
        var u = GuestRegistryState.ParsePath(@"HKEY_USERS\Alice\Software");
        Assert.Equal(("USER", "Alice", @"HKEY_USERS\Alice\Software"), (u.Hive, u.User, u.FullName));
        var e = Assert.Throws<RegistryPathException>(() => GuestRegistryState.ParsePath(@"HKCU\Software"));
        Assert.Equal("RegistryPathNotSupported", e.ErrorId);
        Assert.Throws<RegistryPathException>(() => GuestRegistryState.ParsePath(@"HKLM\HARDWARE"));
    }
}
