using System;
using System.Collections.Generic;
using System.IO;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;
using GuestFs.Tests.Wire;
using Xunit;

namespace GuestFs.Tests.Api;

public sealed class ByNameTests
{
    private static Dictionary<string, object?> A(params (string, object?)[] kv)
    {
        var d = new Dictionary<string, object?>();
        foreach (var (k, v) in kv) d[k] = v;
        return d;
    }

    [Fact]
    public void Arguments_are_encoded_in_table_order_with_the_optargs_bitmask()
    {
        var (req, transfer) = GuestSession.BuildRequest(ProcedureCatalog.Find("mkfs")!, A(("device", "/dev/sda1"), ("fstype", "ext4"), ("label", "DATA"), ("blocksize", 4096L)));
        Assert.Null(transfer);
        Assert.Equal(278, req.Procedure);
        Assert.Equal(0x11ul, req.Optargs);
        using var w = new XdrWriter();
        req.WriteArgs!(w);
        var r = new XdrReader(w.Body.ToArray());
        Assert.Equal("ext4", r.ReadString());
        Assert.Equal("/dev/sda1", r.ReadString());
        Assert.Equal(4096, r.ReadInt32());
        Assert.Equal("", r.ReadString());
        Assert.Equal(0, r.ReadInt32());
        Assert.Equal(0, r.ReadInt32());
        Assert.Equal("DATA", r.ReadString());
        r.EnsureAtEnd("mkfs");
    }

    [Theory]
    [InlineData("mount", "mountpoint", null, "needs the argument 'mountpoint'")]
    [InlineData("mount", "bogus", "x", "has no argument 'bogus'")]
    [InlineData("chmod", "mode", "0644", "must be a 32-bit integer")]
    [InlineData("is_dir", "followsymlinks", "yes", "must be a boolean")]
    public void Bad_arguments_are_refused_before_anything_is_sent(string proc, string arg, object? value, string message)
    {
        var args = proc switch
        {
            "mount" => A(("mountable", "/dev/sda1")),
            "chmod" => A(("path", "/x")),
            _ => A(("path", "/x")),
        };
        args[arg] = value;
        if (value is null) args.Remove(arg);
        var e = Assert.Throws<ArgumentException>(() => GuestSession.BuildRequest(ProcedureCatalog.Find(proc)!, args));
        Assert.Contains(message, e.Message);
        Assert.Contains(proc, e.Message);
    }

    [Fact]
    public void Loose_values_are_converted_as_a_shell_passes_them()
    {
        var (req, _) = GuestSession.BuildRequest(ProcedureCatalog.Find("utimens")!, A(("path", "/x"), ("atsecs", 1), ("atnsecs", (short)2), ("mtsecs", 3L), ("mtnsecs", (byte)4)));
        Assert.Equal(201, req.Procedure);
        var (lv, _) = GuestSession.BuildRequest(ProcedureCatalog.Find("vgcreate")!, A(("volgroup", "vg"), ("physvols", new object[] { "/dev/sda1", "/dev/sdb1" })));
        Assert.NotNull(lv.WriteArgs);
    }

    [Fact]
    public async Task A_call_by_name_reaches_the_daemon_and_decodes_structs()
    {
        await using var d = new FakeDaemon();
        d.Handlers[422] = (req, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w => { for (int i = 0; i < 22; i++) w.WriteInt64(i == 7 ? 123 : 0); }));
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);
        var st = (GuestStatns)(await s.InvokeByNameAsync("lstatns", A(("path", "/etc/hostname"))))!;
        Assert.Equal(123, st.StSize);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => s.InvokeByNameAsync("lstat_ns", A()));
        Assert.Contains("lstatns", e.Message);
    }
}
