using System.Linq;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Library;
using Xunit;

namespace GuestFs.Tests.Engine;

public sealed class DiskHygieneTests
{
    private const long MiB = 1024 * 1024;

    // The MBR layout of the DiskHygiene Pester image: 200, 320, 100 MiB and a PV to 1 MiB before the end of 1 GiB.
    private static ResizePartition[] Source() => new[]
    {
        new ResizePartition { Name = "/dev/sda1", Number = 1, Start = 1 * MiB, Size = 200 * MiB, Content = "ext4" },
        new ResizePartition { Name = "/dev/sda2", Number = 2, Start = 201 * MiB, Size = 320 * MiB, Content = "xfs" },
        new ResizePartition { Name = "/dev/sda3", Number = 3, Start = 521 * MiB, Size = 100 * MiB, Content = "ntfs" },
        new ResizePartition { Name = "/dev/sda4", Number = 4, Start = 621 * MiB, Size = 402 * MiB, Content = "LVM2_member" },
        };

    [Fact]
    public void Expand_gives_the_surplus_to_one_partition_and_keeps_the_first_start_and_128_sector_alignment()
    {
        var layout = DiskResize.Layout(Source(), 1536 * MiB, "/dev/sda2", out long surplus);
        // outsize - required - (4096 + 128 * 5 + 64) sectors of overhead, as virt-resize counts it
        Assert.Equal(1536 * MiB - 1022 * MiB - 4800 * 512, surplus);
        Assert.Equal(2048, layout[0].TargetStartSector);
        Assert.All(layout.Skip(1), p => Assert.Equal(0, p.TargetStartSector % 128));
        Assert.Equal(new[] { "copy", "resize", "copy", "copy" }, layout.Select(p => p.Operation));
        Assert.Equal(320 * MiB + surplus, layout[1].NewSize);
        Assert.Equal("xfs_growfs", layout[1].ExpandMethod);
        // a copied partition keeps its size exactly; the resized one ends just before an aligned start
        Assert.Equal(200 * MiB / 512, layout[0].TargetEndSector - layout[0].TargetStartSector + 1);
        Assert.Equal(0, (layout[1].TargetEndSector + 1) % 128);
        Assert.Equal(layout[1].TargetEndSector + 1, layout[2].TargetStartSector);
        Assert.True(layout[3].TargetEndSector * 512 < 1536 * MiB - 33 * 512);
    }

    [Theory]
    [InlineData(512, "/dev/sda2", "DestinationTooSmall")]
    [InlineData(2048, "/dev/sda9", "UnknownPartition")]
    public void Bad_requests_name_the_reason(long mib, string expand, string reason)
    {
        var e = Assert.Throws<DiskResizeException>(() => DiskResize.Layout(Source(), mib * MiB, expand, out _));
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void A_filesystem_that_cannot_grow_is_refused()
    {
        var src = Source();
        src[2] = src[2] with { Content = "vfat" };
        var e = Assert.Throws<DiskResizeException>(() => DiskResize.Layout(src, 2048 * MiB, "/dev/sda3", out _));
        Assert.Equal("CannotExpandContent", e.Reason);
        Assert.Contains("vfat", e.Message);
    }

    [Fact]
    public void Locked_luks_and_bitlocker_volumes_are_found_in_list_filesystems()
    {
        var fss = new[]
        {
            new System.Collections.Generic.KeyValuePair<string, string>("/dev/sda1", "ext4"),
            new System.Collections.Generic.KeyValuePair<string, string>("/dev/sda2", "crypto_LUKS"),
            new System.Collections.Generic.KeyValuePair<string, string>("/dev/sda3", "BitLocker"),
            new System.Collections.Generic.KeyValuePair<string, string>("/dev/sda4", "swap"),
        };
        Assert.Equal(new[] { "/dev/sda2", "/dev/sda3" }, DiskSparsify.LockedEncryptedDevices(fss));
    }

    [Fact]
    public void Discard_on_a_read_only_drive_is_refused()
    {
        string f = System.IO.Path.GetTempFileName();
        try
        {
            System.IO.File.WriteAllBytes(f, new byte[4096]);
            using var s = new GuestFs.Engine.Session.GuestSession(new GuestFs.Engine.Session.GuestSessionOptions());
            var e = Assert.Throws<System.ArgumentException>(() => s.AddDrive(f, new GuestFs.Engine.Session.DriveOptions { Discard = true }));
            Assert.Contains("writable", e.Message);
            s.AddDrive(f, new GuestFs.Engine.Session.DriveOptions { Discard = true, ReadOnly = false, Format = "raw" });
        }
        finally { System.IO.File.Delete(f); }
    }

    [Fact]
    public void Discard_becomes_discard_unmap_on_the_drive()
    {
        var plan = new QemuLaunchPlan
        {
            Appliance = new ApplianceFiles("/a/kernel", "/a/initrd", "/a/root", ApplianceKind.Supermin, "/x", false) { RootUuid = "f487782e-c498-4dd7-bf9e-b071710d5cb5" },
            SocketPath = "/tmp/s/guestfsd.sock",
            Drives = new[]
            {
                new QemuDrive(0, DriveSource.File("/img/a.img"), "raw", false, "writeback", null) { Discard = true },
                new QemuDrive(1, DriveSource.File("/img/b.img"), "raw", false, "writeback", null),
            },
            MemoryMB = 1024, Smp = 1, UseKvm = false, Verbose = false,
        };
        var a = QemuCommandLine.Build(plan);
        // Both blockdev nodes of the first drive pass unmap down (the format layer to the
        // protocol layer, the protocol layer punches the hole); the second has none.
        var hd0 = a.Where(x => x.Contains("\"file\"") && x.Contains("/img/a.img")).ToList();
        var hd1 = a.Where(x => x.Contains("\"file\"") && x.Contains("/img/b.img")).ToList();
        Assert.Single(hd0);
        Assert.Single(hd1);
        var node = System.Text.Json.Nodes.JsonNode.Parse(hd0[0])!;
        Assert.Equal("unmap", (string?)node["discard"]);
        Assert.Equal("unmap", (string?)node["file"]!["discard"]);
        Assert.DoesNotContain("discard", hd1[0]);
    }
}
