using System;
using System.IO;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Launch;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>
/// The saved appliance's key decides whether a warm launch may use it: it must
/// change with everything the saved VM was built from, and must not change when
/// the appliance files are merely touched (which happens on every launch).
/// </summary>
public sealed class WarmKeyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gfs-warmkey-" + Guid.NewGuid().ToString("N"));
    private readonly QemuLaunchPlan _plan;
    private readonly string _qemu;

    public WarmKeyTests()
    {
        Directory.CreateDirectory(_dir);
        foreach (var f in new[] { "kernel", "initrd", "root", "qemu" })
            File.WriteAllText(Path.Combine(_dir, f), f + " content");
        _qemu = Path.Combine(_dir, "qemu");
        _plan = new QemuLaunchPlan
        {
            Appliance = new ApplianceFiles(Path.Combine(_dir, "kernel"), Path.Combine(_dir, "initrd"), Path.Combine(_dir, "root"), ApplianceKind.Supermin, _dir, false)
            { RootUuid = "f487782e-c498-4dd7-bf9e-b071710d5cb5" },
            SocketPath = "/tmp/x/guestfsd.sock",
            Drives = Array.Empty<QemuDrive>(),
            MemoryMB = 1024,
            Smp = 1,
            UseKvm = false,
            Verbose = false,
        };
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Same_inputs_give_the_same_key_whatever_the_per_run_paths()
    {
        var a = WarmAppliance.ComputeKey(_plan, _qemu);
        var b = WarmAppliance.ComputeKey(_plan with { SocketPath = "/elsewhere/s.sock", ApplianceOverlay = "/tmp/o.qcow2" }, _qemu);
        Assert.Equal(a, b);
        Assert.Equal(64, a.Length);
    }

    [Fact]
    public void Touching_the_appliance_files_keeps_the_key()
    {
        var a = WarmAppliance.ComputeKey(_plan, _qemu);
        foreach (var f in new[] { "kernel", "initrd", "root" })
            File.SetLastWriteTimeUtc(Path.Combine(_dir, f), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(a, WarmAppliance.ComputeKey(_plan, _qemu));
    }

    [Fact]
    public void A_rebuilt_appliance_changes_the_key()
    {
        var a = WarmAppliance.ComputeKey(_plan, _qemu);
        // supermin rebuild: a new root filesystem UUID, new kernel or initrd content.
        Assert.NotEqual(a, WarmAppliance.ComputeKey(_plan with { Appliance = _plan.Appliance with { RootUuid = "0b7d6a1c-0000-4000-8000-000000000000" } }, _qemu));
        File.WriteAllText(Path.Combine(_dir, "initrd"), "another initrd");
        Assert.NotEqual(a, WarmAppliance.ComputeKey(_plan, _qemu));
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("smp")]
    [InlineData("kvm")]
    [InlineData("verbose")]
    [InlineData("append")]
    public void Launch_settings_change_the_key(string what)
    {
        var a = WarmAppliance.ComputeKey(_plan, _qemu);
        var changed = what switch
        {
            "memory" => _plan with { MemoryMB = 768 },
            "smp" => _plan with { Smp = 2 },
            "kvm" => _plan with { UseKvm = true },
            "verbose" => _plan with { Verbose = true },
            _ => _plan with { Append = "console=ttyS1" },
        };
        Assert.NotEqual(a, WarmAppliance.ComputeKey(changed, _qemu));
    }

    [Fact]
    public void Another_qemu_binary_changes_the_key()
    {
        var a = WarmAppliance.ComputeKey(_plan, _qemu);
        File.WriteAllText(_qemu, "a newer qemu build");
        Assert.NotEqual(a, WarmAppliance.ComputeKey(_plan, _qemu));
    }

    [Fact]
    public void Find_explains_why_an_image_is_not_usable()
    {
        string cache = Path.Combine(_dir, "cache");
        string key = WarmAppliance.ComputeKey(_plan, _qemu);
        var (img, reason) = WarmAppliance.Find(cache, key, 1024);
        Assert.Null(img);
        Assert.Equal("no saved appliance yet", reason);

        string dir = Path.Combine(WarmAppliance.Root(cache), key.Substring(0, 24));
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.Contains("incomplete", WarmAppliance.Find(cache, key, 1024).Reason);
        File.WriteAllText(Path.Combine(dir, "ok"), new string('0', 64));
        Assert.Contains("stale", WarmAppliance.Find(cache, key, 1024).Reason);
        File.WriteAllText(Path.Combine(dir, "ok"), key);
        Assert.Contains("RAM file", WarmAppliance.Find(cache, key, 1024).Reason);
        using (var f = File.Create(Path.Combine(dir, "ram"))) f.SetLength(1024L * 1024 * 1024);
        Assert.Contains("state file", WarmAppliance.Find(cache, key, 1024).Reason);
        File.WriteAllBytes(Path.Combine(dir, "state"), new byte[4096]);
        Assert.Contains("root overlay", WarmAppliance.Find(cache, key, 1024).Reason);
        File.WriteAllText(Path.Combine(dir, "saved.qcow2"), "x");
        Assert.NotNull(WarmAppliance.Find(cache, key, 1024).Image);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherRead);
        Assert.Contains("not private", WarmAppliance.Find(cache, key, 1024).Reason);
    }
}
