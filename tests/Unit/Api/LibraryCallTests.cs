using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Tests.Wire;
using Xunit;

namespace GuestFs.Tests.Api;

/// <summary>The library-side calls: named like libguestfs's, reachable by name, built from daemon calls.</summary>
public sealed class LibraryCallTests
{
    private static Dictionary<string, object?> A(params (string, object?)[] kv)
    {
        var d = new Dictionary<string, object?>();
        foreach (var (k, v) in kv) d[k] = v;
        return d;
    }

    [Fact]
    public void Library_calls_are_libguestfs_library_functions_and_never_shadow_a_daemon_procedure()
    {
        Assert.NotEmpty(LibraryCatalog.All);
        foreach (var p in LibraryCatalog.All)
        {
            Assert.True(p.IsLibrary);
            Assert.Equal(0, p.Number);
            Assert.Equal("library", p.Side);
            Assert.Null(ProcedureCatalog.Find(p.Name));
            Assert.False(string.IsNullOrWhiteSpace(p.Summary), p.Name);
            Assert.Same(p, ProcedureCatalog.FindAny(p.Name));
        }
        Assert.Equal(ProcedureCatalog.All.Count + LibraryCatalog.All.Count, ProcedureCatalog.AllWithLibrary.Count);

        string json = Path.Combine(ProcedureTableTests.RepoRoot(), "..", "shared", "protocol", "procedures.json");
        Assert.True(File.Exists(json), $"the facts sheet {json} is missing: it lives in shared/protocol beside the repository (CI lays it there)");
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            var names = doc.RootElement.GetProperty("library_functions").EnumerateArray()
                .Select(e => e.ValueKind == System.Text.Json.JsonValueKind.String ? e.GetString()! : e.GetProperty("name").GetString()!).ToHashSet();
            foreach (var p in LibraryCatalog.All) Assert.Contains(p.Name, names);
        }
    }

    [Theory]
    [InlineData("cat")]
    [InlineData("read_file")]
    [InlineData("ls")]
    [InlineData("find")]
    [InlineData("write")]
    [InlineData("copy_in")]
    [InlineData("copy_out")]
    [InlineData("version")]
    [InlineData("disk_format")]
    [InlineData("disk_virtual_size")]
    [InlineData("inspect_list_applications2")]
    [InlineData("canonical_device_name")]
    public void The_calls_the_issue_names_are_there(string name) => Assert.NotNull(LibraryCatalog.Find(name));

    [Fact]
    public void Arguments_are_checked_like_daemon_calls()
    {
        var p = LibraryCatalog.Find("write")!;
        Assert.Contains("needs the argument 'content'", Assert.Throws<ArgumentException>(() => GuestSession.CheckLibraryArguments(p, A(("path", "/x")))).Message);
        Assert.Contains("has no argument 'bogus'", Assert.Throws<ArgumentException>(() => GuestSession.CheckLibraryArguments(p, A(("path", "/x"), ("content", "y"), ("bogus", 1)))).Message);
        var ok = GuestSession.CheckLibraryArguments(p, A(("PATH", "/x"), ("content", "hé")));
        Assert.Equal("/x", ok["path"]);
        Assert.Equal(new byte[] { (byte)'h', 0xc3, 0xa9 }, (byte[])ok["content"]!);
    }

    [Fact]
    public async Task Unknown_names_suggest_daemon_and_library_calls()
    {
        using var s = new GuestSession(new GuestSessionOptions());
        var e = await Assert.ThrowsAsync<ArgumentException>(() => s.InvokeByNameAsync("canonical_device", A()));
        Assert.Contains("canonical_device_name", e.Message);
    }

    [Fact]
    public async Task Library_calls_run_through_the_daemon_by_name()
    {
        await using var d = new FakeDaemon();
        d.Handlers[7] = (req, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w => w.WriteStringArray(new[] { "/dev/sda", "/dev/sdb" })));
        d.Handlers[277] = (req, _) =>
        {
            string lv = req.Reader().ReadString();
            return Task.FromResult<FakeDaemon.Reply>(lv == "/dev/mapper/vg-lv"
                ? new FakeDaemon.Ok(w => w.WriteString("/dev/vg/lv"))
                : new FakeDaemon.Error("EINVAL", $"{lv}: not a logical volume"));
        };
        d.Handlers[396] = (req, _) =>
        {
            string m = req.Reader().ReadString();
            return Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w =>
            {
                w.WriteInt32(m.StartsWith("btrfsvol:", StringComparison.Ordinal) ? 1 : 0);
                w.WriteString("/dev/sda5");
                w.WriteString(m.StartsWith("btrfsvol:", StringComparison.Ordinal) ? "sub1" : "");
            }));
        };
        d.Handlers[458] = (req, _) =>
        {
            string g = req.Reader().ReadString();
            return Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w => w.WriteInt32(g == "xfs" ? 0 : 1)));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        Assert.Equal(1, await s.InvokeByNameAsync("device_index", A(("device", "/dev/sdb"))));
        var missing = await Assert.ThrowsAsync<GuestFsException>(() => s.InvokeByNameAsync("device_index", A(("device", "/dev/sdz"))));
        Assert.Equal("ENOENT", missing.ErrnoName);
        Assert.Equal("/dev/sda1", await s.InvokeByNameAsync("canonical_device_name", A(("device", "/dev/vda1"))));
        Assert.Equal("/dev/sdb", await s.InvokeByNameAsync("canonical_device_name", A(("device", "/dev/hdb"))));
        Assert.Equal("/dev/vg/lv", await s.InvokeByNameAsync("canonical_device_name", A(("device", "/dev/mapper/vg-lv"))));
        Assert.Equal("/dev/mapper/luks-x", await s.InvokeByNameAsync("canonical_device_name", A(("device", "/dev/mapper/luks-x"))));
        Assert.Equal("/dev/sda5", await s.InvokeByNameAsync("mountable_device", A(("mountable", "btrfsvol:/dev/sda5/sub1"))));
        Assert.Equal("sub1", await s.InvokeByNameAsync("mountable_subvolume", A(("mountable", "btrfsvol:/dev/sda5/sub1"))));
        var plain = await Assert.ThrowsAsync<GuestFsException>(() => s.InvokeByNameAsync("mountable_subvolume", A(("mountable", "/dev/sda5"))));
        Assert.Equal("EINVAL", plain.ErrnoName);
        Assert.Equal(true, await s.InvokeByNameAsync("feature_available", A(("groups", new[] { "xfs" }))));
        Assert.Equal(false, await s.InvokeByNameAsync("feature_available", A(("groups", new[] { "xfs", "zfs" }))));
        var unavailable = await Assert.ThrowsAsync<GuestFsException>(() => s.InvokeByNameAsync("available", A(("groups", "zfs"))));
        Assert.Contains("zfs", unavailable.Message);
        var v = Assert.IsType<GuestVersion>(await s.InvokeByNameAsync("version", A()));
        Assert.Equal((1L, 48L, 6L), (v.Major, v.Minor, v.Release));
        Assert.StartsWith("GuestFs ", v.Extra);
        Assert.Equal(2, await s.InvokeByNameAsync("get_state", A()));
    }
}
