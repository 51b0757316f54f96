using System;
using System.Collections.Generic;
using System.Linq;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;
using Xunit;

namespace GuestFs.Tests.Engine;

public sealed class GuestPathTests
{
    [Theory]
    [InlineData("/", "/", "/")]
    [InlineData("/etc//passwd", "/", "/etc/passwd")]
    [InlineData("etc/./x", "/var", "/var/etc/x")]
    [InlineData("../..", "/a/b", "/")]
    [InlineData("/a/b/../c/", "/", "/a/c")]
    [InlineData("", "/home", "/home")]
    public void Normalize_makes_absolute_clean_paths(string input, string current, string expected) =>
        Assert.Equal(expected, GuestPath.Normalize(input, current));

    [Theory]
    [InlineData("/etc/passwd", "/etc", "passwd")]
    [InlineData("/etc/", "/", "etc")]
    [InlineData("/x", "/", "x")]
    public void Directory_and_file_name(string path, string dir, string name)
    {
        Assert.Equal(dir, GuestPath.GetDirectoryName(path));
        Assert.Equal(name, GuestPath.GetFileName(path));
    }
}

public sealed class FileInfoTests
{
    [Theory]
    [InlineData(0x81A4, "-rw-r--r--")]
    [InlineData(0x41ED, "drwxr-xr-x")]
    [InlineData(0xA1FF, "lrwxrwxrwx")]
    [InlineData(0x89ED, "-rwsr-xr-x")]
    [InlineData(0x8DA4, "-rwSr-Sr--")]
    [InlineData(0x43FF, "drwxrwxrwt")]
    [InlineData(0x21B6, "crw-rw-rw-")]
    [InlineData(0x61B0, "brw-rw----")]
    [InlineData(0x11A4, "prw-r--r--")]
    [InlineData(0xC1ED, "srwxr-xr-x")]
    public void Mode_strings_match_ls(int mode, string expected) => Assert.Equal(expected, GuestFileInfo.FormatMode(mode));

    [Fact]
    public void Permissions_are_octal_text() =>
        Assert.Equal("0755", new GuestFileInfo { UnixMode = 0x41ED }.Permissions);
}

public sealed class DeviceNameTests
{
    [Theory]
    [InlineData(0, "/dev/sda")]
    [InlineData(25, "/dev/sdz")]
    [InlineData(26, "/dev/sdaa")]
    [InlineData(27, "/dev/sdab")]
    [InlineData(701, "/dev/sdzz")]
    [InlineData(702, "/dev/sdaaa")]
    public void Index_and_name_round_trip(int index, string name)
    {
        Assert.Equal(name, GuestDeviceNames.FromIndex(index));
        Assert.Equal(index, GuestDeviceNames.ToIndex(name));
    }

    [Theory]
    [InlineData("/dev/vda1", "/dev/sda1")]
    [InlineData("/dev/hdb", "/dev/sdb")]
    [InlineData("/dev/xvdc3", "/dev/sdc3")]
    [InlineData("/dev/mapper/vg-lv", "/dev/mapper/vg-lv")]
    public void Canonical_names(string input, string expected) => Assert.Equal(expected, GuestDeviceNames.Canonical(input));
}

public sealed class OptionsFromEnvironmentTests
{
    private static GuestSessionOptions Parse(params (string, string)[] vars)
    {
        var d = vars.ToDictionary(v => v.Item1, v => v.Item2);
        return GuestSessionOptions.FromEnvironment(n => d.TryGetValue(n, out var v) ? v : null);
    }

    [Fact]
    public void Defaults_without_variables()
    {
        var o = Parse();
        Assert.Equal(GuestSessionOptions.DefaultMemoryMB, o.MemoryMB);
        Assert.Equal(GuestSessionOptions.DefaultSmp, o.Smp);
        Assert.Equal(AcceleratorKind.Auto, o.Accelerator);
        Assert.False(o.Debug);
    }

    [Fact]
    public void Libguestfs_variables_are_honoured()
    {
        var o = Parse(("LIBGUESTFS_MEMSIZE", "768"), ("LIBGUESTFS_DEBUG", "yes"), ("LIBGUESTFS_TRACE", "1"),
            ("LIBGUESTFS_PATH", "/opt/appliance"), ("LIBGUESTFS_HV", "/opt/qemu"), ("LIBGUESTFS_APPEND", "foo=1"),
            ("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg"), ("LIBGUESTFS_CACHEDIR", "/c"), ("TMPDIR", "/t"));
        Assert.Equal(768, o.MemoryMB);
        Assert.True(o.Debug);
        Assert.True(o.Trace);
        Assert.Equal("/opt/appliance", o.AppliancePath);
        Assert.Equal("/opt/qemu", o.QemuPath);
        Assert.Equal("foo=1", o.Append);
        Assert.Equal(AcceleratorKind.Tcg, o.Accelerator);
        Assert.Equal("/c", o.CacheDirectory);
        Assert.Equal("/t", o.TempDirectory);
    }

    [Fact]
    public void Force_kvm_and_the_guestfs_accelerator_variable() =>
        Assert.Equal(AcceleratorKind.Kvm, Parse(("LIBGUESTFS_BACKEND_SETTINGS", "force_kvm=1")).Accelerator);

    [Theory]
    [InlineData("LIBGUESTFS_MEMSIZE", "lots")]
    [InlineData("LIBGUESTFS_MEMSIZE", "100")]
    [InlineData("LIBGUESTFS_DEBUG", "maybe")]
    [InlineData("LIBGUESTFS_SMP", "0")]
    [InlineData("GUESTFS_ACCELERATOR", "warp")]
    [InlineData("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg:force_kvm")]
    public void Bad_values_name_the_variable(string name, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => Parse((name, value)));
        Assert.Contains(name, e.Message);
    }
}

public sealed class QemuCommandLineTests
{
    private static QemuLaunchPlan Plan(bool kvm = false, bool verbose = false, string? append = null) => new()
    {
        Appliance = new ApplianceFiles("/a/kernel", "/a/initrd", "/a/root", ApplianceKind.Supermin, "/x", false) { RootUuid = "f487782e-c498-4dd7-bf9e-b071710d5cb5" },
        SocketPath = "/tmp/s,1/guestfsd.sock",
        Drives = new[]
        {
            new QemuDrive(0, DriveSource.File("/img/a,b.img"), "raw", false, "writeback", "data"),
            new QemuDrive(1, DriveSource.File("/tmp/x/overlay1.qcow2"), "qcow2", true, "unsafe", null),
        },
        MemoryMB = 1024, Smp = 2, UseKvm = kvm, Verbose = verbose, Append = append, LoopsPerJiffy = "12345",
    };

    [Fact]
    public void Commas_in_paths_are_doubled_and_drives_come_in_order_before_the_appliance()
    {
        var a = QemuCommandLine.Build(Plan());
        // -blockdev takes JSON (no comma doubling there); -device and -chardev double commas.
        Assert.Contains("{\"driver\":\"raw\",\"node-name\":\"hd0\",\"cache\":{\"direct\":false,\"no-flush\":false},\"file\":{\"driver\":\"file\",\"filename\":\"/img/a,b.img\"}}", a);
        Assert.Contains("scsi-hd,drive=hd0,bus=scsi.0,channel=0,scsi-id=0,lun=0,serial=data", a);
        Assert.Contains("{\"driver\":\"qcow2\",\"node-name\":\"hd1\",\"cache\":{\"direct\":false,\"no-flush\":true},\"file\":{\"driver\":\"file\",\"filename\":\"/tmp/x/overlay1.qcow2\"}}", a);
        Assert.True(a.IndexOf("-blockdev") < a.FindIndex(x => x.StartsWith("scsi-hd,drive=hd0,", StringComparison.Ordinal)));
        Assert.Contains("socket,path=/tmp/s,,1/guestfsd.sock,id=channel0", a);
        int hd1 = a.FindIndex(x => x.StartsWith("scsi-hd,drive=hd1,", StringComparison.Ordinal));
        Assert.True(hd1 > 0, "the second drive's device is missing");
        Assert.Equal("scsi-hd,drive=hd1,bus=scsi.0,channel=0,scsi-id=1,lun=0", a[hd1]);
        Assert.True(hd1 < a.IndexOf("virtio-blk-pci,drive=appliance"));
    }

    [Fact]
    public void Tcg_uses_max_cpu_and_lpj_kvm_uses_host()
    {
        var tcg = QemuCommandLine.Build(Plan());
        Assert.Equal("accel=tcg", tcg[tcg.IndexOf("-machine") + 1]);
        Assert.Equal("max,la57=off", tcg[tcg.IndexOf("-cpu") + 1]);
        Assert.Contains("lpj=12345", tcg[^1]);
        var kvm = QemuCommandLine.Build(Plan(kvm: true));
        Assert.Equal("accel=kvm", kvm[kvm.IndexOf("-machine") + 1]);
        Assert.Equal("host", kvm[kvm.IndexOf("-cpu") + 1]);
        Assert.DoesNotContain("lpj=", kvm[^1]);
    }

    [Fact]
    public void Kernel_command_line_has_what_the_boot_needs()
    {
        string k = QemuCommandLine.KernelCommandLine(Plan(append: "extra=1"));
        Assert.Contains("root=UUID=f487782e-c498-4dd7-bf9e-b071710d5cb5", k);
        Assert.Contains("console=ttyS0", k);
        Assert.Contains("panic=1", k);
        Assert.Contains(" quiet", k);
        Assert.EndsWith("extra=1", k);
        Assert.Contains("guestfs_verbose=1", QemuCommandLine.KernelCommandLine(Plan(verbose: true)));
    }

    [Fact]
    public void Network_adds_a_user_network_card_and_tells_the_appliance_init()
    {
        var without = QemuCommandLine.Build(Plan());
        Assert.DoesNotContain("-netdev", without);
        Assert.DoesNotContain("guestfs_network=1", without[^1]);
        var a = QemuCommandLine.Build(Plan() with { Network = true });
        Assert.Equal("user,id=usernet,net=169.254.0.0/16", a[a.IndexOf("-netdev") + 1]);
        Assert.Contains("virtio-net-pci,netdev=usernet", a);
        Assert.Contains(" guestfs_network=1", a[^1]);
        Assert.Equal("-append", a[^2]);
    }

    [Fact]
    public void Arguments_are_a_list_never_a_shell_string()
    {
        var a = QemuCommandLine.Build(Plan(append: "a b; rm -rf /"));
        Assert.Equal("-append", a[^2]);
        Assert.EndsWith("a b; rm -rf /", a[^1]);
    }
}

public sealed class ApplianceTests
{
    [Fact]
    public void Ext2_uuid_is_read_from_the_superblock()
    {
        var img = new byte[0x478];
        img[0x438] = 0x53; img[0x439] = 0xEF;
        var uuid = Convert.FromHexString("f487782ec4984dd7bf9eb071710d5cb5");
        uuid.CopyTo(img, 0x468);
        Assert.Equal("f487782e-c498-4dd7-bf9e-b071710d5cb5", ApplianceLocator.ParseExt2Uuid(img, "root"));
    }

    [Fact]
    public void A_root_without_ext2_magic_is_refused_with_advice()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ApplianceLocator.ParseExt2Uuid(new byte[0x478], "/x/root"));
        Assert.Contains("/x/root", e.Message);
    }

    [Fact]
    public void Search_path_splits_on_colons_and_empty_means_current_dir() =>
        Assert.Equal(new[] { "/a", ".", "/b" }, ApplianceLocator.SearchPath("/a::/b"));

    [Fact]
    public void A_missing_appliance_names_the_package_to_install()
    {
        var dir = System.IO.Directory.CreateTempSubdirectory().FullName;
        try
        {
            var e = Assert.Throws<MissingDependencyException>(() =>
                ApplianceLocator.LocateAsync(dir, null, false, _ => { }, default).GetAwaiter().GetResult());
            Assert.Equal("libguestfs0", e.Package);
            Assert.Contains("apt-get install libguestfs0", e.Message);
            Assert.Contains(dir, e.Message);
        }
        finally { System.IO.Directory.Delete(dir, true); }
    }
}

public sealed class SessionConfigTests
{
    [Fact]
    public void Drives_are_refused_when_missing_or_a_directory_and_validated()
    {
        using var s = new GuestSession(new GuestSessionOptions());
        Assert.Throws<System.IO.FileNotFoundException>(() => s.AddDrive("/no/such/image.img"));
        Assert.Throws<ArgumentException>(() => s.AddDrive("/tmp"));
        var f = System.IO.Path.GetTempFileName();
        try
        {
            var empty = Assert.Throws<ArgumentException>(() => s.AddDrive(f));
            Assert.Contains("empty", empty.Message);
            System.IO.File.WriteAllBytes(f, new byte[512]);
            Assert.Throws<ArgumentException>(() => s.AddDrive(f, new DriveOptions { Format = "raw;rm" }));
            Assert.Throws<ArgumentException>(() => s.AddDrive(f, new DriveOptions { Label = "bad label" }));
            Assert.Throws<ArgumentException>(() => s.AddDrive(f, new DriveOptions { CacheMode = "none" }));
            var d = s.AddDrive(f);
            Assert.True(d.Options.ReadOnly);
            Assert.Equal("/dev/sda", d.DeviceName);
            Assert.Equal("/dev/sdb", s.AddDrive(f).DeviceName);
        }
        finally { System.IO.File.Delete(f); }
    }

    [Fact]
    public void Calls_before_launch_and_after_close_fail_with_clear_state_errors()
    {
        var s = new GuestSession(new GuestSessionOptions());
        var e = Assert.ThrowsAsync<GuestFs.Engine.Protocol.GuestFsStateException>(() => s.ListDevicesAsync()).GetAwaiter().GetResult();
        Assert.Contains("launch", e.Message);
        Assert.ThrowsAsync<GuestFs.Engine.Protocol.GuestFsStateException>(() => s.LaunchAsync()).GetAwaiter().GetResult();
        s.Dispose();
        Assert.Equal(GuestSessionState.Closed, s.State);
        Assert.ThrowsAsync<ObjectDisposedException>(() => s.ListDevicesAsync()).GetAwaiter().GetResult();
    }
}
