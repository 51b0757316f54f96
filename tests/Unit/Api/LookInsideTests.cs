using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;
using GuestFs.Generator;
using Xunit;

namespace GuestFs.Tests.Api;

/// <summary>
/// The library halves of filesystem_walk, find_inode, yara_scan and
/// journal_get (decoding the daemon's results file), and library.table.
/// </summary>
public sealed class LookInsideTests
{
    private static byte[] Dirent(ulong inode, char type, long size, string name, uint flags, string link = "")
    {
        using var w = new XdrWriter();
        w.WriteUInt64(inode); w.WriteChar(type); w.WriteInt64(size); w.WriteString(name); w.WriteUInt32(flags);
        for (int i = 0; i < 8; i++) w.WriteInt64(1_700_000_000 + i);
        w.WriteInt64(1); w.WriteString(link); w.WriteInt64(0);
        return w.Body.ToArray();
    }

    private static async Task<List<GuestTskDirent>> Decode(byte[] file)
    {
        var list = new List<GuestTskDirent>();
        await foreach (var d in GuestSession.DecodeRecordsAsync(new MemoryStream(file), static (ref XdrReader r) => GuestTskDirent.Read(ref r), "filesystem_walk"))
            list.Add(d);
        return list;
    }

    [Fact]
    public async Task Dirent_records_back_to_back_are_decoded_across_buffer_refills()
    {
        // 3000 records with long names: well over the 64 KiB first buffer, so records are cut at its end.
        var records = Enumerable.Range(0, 3000).Select(i => Dirent((ulong)i, i % 2 == 0 ? 'r' : 'd', i, new string('n', i % 200) + i, (uint)(i % 3 == 0 ? 0 : 1), i % 5 == 0 ? "/target" : "")).ToArray();
        var all = records.SelectMany(x => x).ToArray();
        var got = await Decode(all);
        Assert.Equal(3000, got.Count);
        Assert.Equal("nnnnn5", got[5].TskName);
        Assert.Equal('d', got[5].TskType);
        Assert.Equal(0u, got[3].TskFlags);
        Assert.Equal("/target", got[10].TskLink);
        Assert.Equal(1_700_000_002, got[2999].TskMtimeSec);
    }

    [Fact]
    public async Task A_record_cut_by_the_end_of_the_file_is_an_error_naming_the_call()
    {
        var one = Dirent(12, 'r', 5, "deleted.txt", 0);
        var cut = one.Concat(one.Take(one.Length - 7)).ToArray();
        var e = await Assert.ThrowsAsync<GuestFsException>(() => Decode(cut));
        Assert.Contains("filesystem_walk", e.Message);
        Assert.Empty(await Decode(Array.Empty<byte>()));
    }

    [Fact]
    public async Task A_record_length_beyond_the_limit_is_refused_without_reading_it_all()
    {
        using var w = new XdrWriter();
        w.WriteUInt64(1); w.WriteChar('r'); w.WriteInt64(1);
        w.WriteUInt32(0x7fff_fff0); // a name "length" of 2 GiB with nothing behind it
        var e = await Assert.ThrowsAsync<GuestFsException>(() => Decode(w.Body.ToArray()));
        Assert.Contains("filesystem_walk", e.Message);
    }

    private static byte[] JournalField(string text)
    {
        var b = Encoding.UTF8.GetBytes(text);
        var len = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(len, (ulong)b.Length);
        return len.Concat(b).ToArray();
    }

    [Fact]
    public void Journal_fields_are_split_at_the_first_equals_sign_and_keep_binary_values()
    {
        var buf = JournalField("MESSAGE=a=b").Concat(JournalField("PRIORITY=6")).Concat(JournalField("_BIN=\u0001\u0000x")).ToArray();
        var f = GuestSession.ParseJournalFields(buf);
        Assert.Equal(new[] { "MESSAGE", "PRIORITY", "_BIN" }, f.Select(x => x.Attrname));
        Assert.Equal("a=b", Encoding.UTF8.GetString(f[0].Attrval));
        Assert.Equal(new byte[] { 1, 0, (byte)'x' }, f[2].Attrval);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0 }, "truncated")]
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 0, 0, 9, (byte)'A', (byte)'=' }, "too large")]
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 0, 0, 2, (byte)'A', (byte)'B' }, "no '='")]
    public void Bad_journal_data_says_what_is_wrong(byte[] buf, string expected)
    {
        var e = Assert.Throws<GuestFsException>(() => GuestSession.ParseJournalFields(buf));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("filesystem_walk", "RStructList(tsk_dirent)", "libtsk")]
    [InlineData("find_inode", "RStructList(tsk_dirent)", "libtsk")]
    [InlineData("yara_scan", "RStructList(yara_detection)", "libyara")]
    [InlineData("journal_get", "RStructList(xattr)", "journal")]
    [InlineData("inspect_get_icon", "RBufferOut", null)]
    public void The_look_inside_calls_are_library_calls_with_their_feature_group(string name, string ret, string? group)
    {
        var p = LibraryCatalog.Find(name);
        Assert.NotNull(p);
        Assert.True(p!.IsLibrary);
        Assert.Equal(ret, p.ReturnType);
        Assert.Equal(group, p.Group);
    }

    [Fact]
    public void Every_row_of_library_table_is_a_library_call_and_nothing_else_is()
    {
        var rows = Tables.ReadLibrary(Path.Combine(ProcedureTableTests.RepoRoot(), "src/GuestFs.Engine/Api/library.table"));
        Assert.Equal(rows.Select(r => r.Signature.Name).OrderBy(n => n, StringComparer.Ordinal), LibraryCatalog.All.Select(p => p.Name));
        // Every row has its implementation method with the declared arguments.
        foreach (var r in rows)
        {
            var m = typeof(LibraryCalls).GetMethod(Generator.Generator.Pascal(r.Signature.Name) + "Async");
            Assert.True(m is not null, $"LibraryCalls.{Generator.Generator.Pascal(r.Signature.Name)}Async is missing");
            Assert.Equal(r.Signature.Args.Count + 2, m!.GetParameters().Length);
        }
    }

    [Fact]
    public void The_generator_refuses_a_library_row_that_shadows_a_daemon_call_or_lacks_a_summary()
    {
        var procs = Tables.ReadProcedures(Path.Combine(ProcedureTableTests.RepoRoot(), "src/GuestFs.Engine/Api/procedures.table"));
        var structs = Tables.ReadStructs(Path.Combine(ProcedureTableTests.RepoRoot(), "src/GuestFs.Engine/Api/structs.table"));
        var mount = new LibraryCall(new Procedure(0, "mount", "RErr", new List<Param>(), new List<Param>(), new Dictionary<string, string>()), "x");
        Assert.Contains("also a daemon procedure", Assert.Throws<InvalidDataException>(() => Generator.Generator.ValidateLibrary(new[] { mount }, procs, structs)).Message);
        var bare = new LibraryCall(new Procedure(0, "new_call", "RErr", new List<Param>(), new List<Param>(), new Dictionary<string, string>()), "");
        Assert.Contains("no summary", Assert.Throws<InvalidDataException>(() => Generator.Generator.ValidateLibrary(new[] { bare }, procs, structs)).Message);
    }
}
