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
    public void Shrink_takes_the_deficit_from_one_partition_and_marks_its_content_for_shrinking()
    {
        // 1 GiB less 90 MiB: the partitions need 1022 MiB + 4800 sectors.
        long size = 1024 * MiB - 90 * MiB;
        var layout = DiskResize.Layout(Source(), size, new ResizeRequest { Shrink = "/dev/sda1" }, out long surplus);
        Assert.Equal(size - 1022 * MiB - 4800 * 512, surplus);
        Assert.Equal(new[] { "shrink", "copy", "copy", "copy" }, layout.Select(p => p.Operation));
        Assert.Equal(size - 822 * MiB - 4800 * 512, layout[0].NewSize);
        Assert.Equal("resize2fs", layout[0].ShrinkMethod);
        Assert.Equal("resize2fs", layout[0].ExpandMethod);
        Assert.Null(layout[1].ShrinkMethod);
        Assert.All(layout.Skip(1), p => Assert.Equal(0, p.TargetStartSector % 128));
        Assert.True((layout[3].TargetEndSector + 1) * 512 <= size - 64 * 512);
        Assert.Contains("resize2fs (shrunk, then fitted)", new ResizePlan
        {
            Source = "a", Destination = "b", SourceSize = 1024 * MiB, DestinationSize = size, PartitionTableType = "msdos", Partitions = layout,
        }.ToString());
    }

    [Theory]
    [InlineData(2048, "/dev/sda1", "NoDeficit")]
    [InlineData(900, "/dev/sda2", "CannotShrinkContent")]   // xfs never shrinks
    [InlineData(900, "/dev/sda7", "UnknownPartition")]
    [InlineData(100, "/dev/sda1", "DestinationTooSmall")]   // ext4 would need a negative size
    public void Bad_shrink_requests_name_the_reason(long mib, string shrink, string reason)
    {
        var e = Assert.Throws<DiskResizeException>(() => DiskResize.Layout(Source(), mib * MiB, new ResizeRequest { Shrink = shrink }, out _));
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void Expand_and_shrink_together_are_refused()
    {
        var e = Assert.Throws<DiskResizeException>(() => DiskResize.Layout(Source(), 2048 * MiB, new ResizeRequest { Expand = "/dev/sda2", Shrink = "/dev/sda1" }, out _));
        Assert.Equal("ExpandAndShrink", e.Reason);
    }

    [Fact]
    public void Resize_sets_sizes_first_and_expand_takes_what_is_left()
    {
        var req = new ResizeRequest
        {
            Expand = "/dev/sda2",
            Resizes = new System.Collections.Generic.Dictionary<string, string> { ["/dev/sda1"] = "+100M", ["/dev/sda3"] = "150%" },
        };
        var layout = DiskResize.Layout(Source(), 1536 * MiB, req, out long surplus);
        Assert.Equal(new[] { "resize", "resize", "resize", "copy" }, layout.Select(p => p.Operation));
        Assert.Equal(300 * MiB, layout[0].NewSize);
        Assert.Equal(150 * MiB, layout[2].NewSize);
        Assert.Equal(320 * MiB + 1536 * MiB - 1172 * MiB - 4800 * 512, layout[1].NewSize);
        Assert.Equal("ntfsresize", layout[2].ExpandMethod);
        Assert.Equal(1536 * MiB - 1172 * MiB - 4800 * 512, surplus);
        // the same partition twice is refused
        var twice = req with { Expand = "/dev/sda1" };
        Assert.Equal("PartitionResizedTwice", Assert.Throws<DiskResizeException>(() => DiskResize.Layout(Source(), 1536 * MiB, twice, out _)).Reason);
    }

    [Theory]
    [InlineData("10G", 10L << 30)]
    [InlineData("+200M", (100L << 20) + (200L << 20))]
    [InlineData("-50M", 50L << 20)]
    [InlineData("+10%", 110L << 20)]
    [InlineData("-10%", 90L << 20)]
    [InlineData("150%", 150L << 20)]
    [InlineData("1048576", 1L << 20)]
    [InlineData("2.5K", 2560)]
    public void Resize_sizes_read_as_virt_resize_reads_them(string text, long expected)
    {
        Assert.Equal(expected, DiskResize.ParseSize(100L << 20, text, "/dev/sda1"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("big")]
    [InlineData("10Q")]
    [InlineData("+-5M")]
    public void Bad_resize_sizes_are_refused(string text)
    {
        Assert.Equal("BadResizeSize", Assert.Throws<DiskResizeException>(() => DiskResize.ParseSize(100L << 20, text, "/dev/sda1")).Reason);
    }

    [Fact]
    public void The_partition_table_is_read_from_its_bytes()
    {
        var head = new byte[34 * 512];
        // MBR: entry 1 bootable type 0x83, entry 2 type 0x07.
        head[446] = 0x80; head[446 + 4] = 0x83; head[462 + 4] = 0x07;
        var mbr = PartitionTableBytes.Parse("msdos", head);
        Assert.Equal(new[] { 0x83, 0x07, 0, 0 }, mbr.Mbr.Select(e => e.Type));
        Assert.True(mbr.Mbr[0].Bootable);
        Assert.False(mbr.Mbr[1].Bootable);
        Assert.Null(mbr.Gpt);

        // GPT header at LBA 1, 128 entries of 128 bytes at LBA 2; entries 1 and 3 used.
        System.Text.Encoding.ASCII.GetBytes("EFI PART").CopyTo(head, 512);
        var disk = System.Guid.Parse("11223344-5566-7788-99AA-BBCCDDEEFF00");
        disk.ToByteArray().CopyTo(head, 512 + 56);
        System.BitConverter.GetBytes(2L).CopyTo(head, 512 + 72);
        System.BitConverter.GetBytes(128).CopyTo(head, 512 + 80);
        System.BitConverter.GetBytes(128).CopyTo(head, 512 + 84);
        void Entry(int index, string type, string guid, long attrs, string name)
        {
            int o = 1024 + index * 128;
            System.Guid.Parse(type).ToByteArray().CopyTo(head, o);
            System.Guid.Parse(guid).ToByteArray().CopyTo(head, o + 16);
            System.BitConverter.GetBytes(attrs).CopyTo(head, o + 48);
            System.Text.Encoding.Unicode.GetBytes(name).CopyTo(head, o + 56);
        }
        Entry(0, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "0a0b0c0d-0000-1111-2222-333344445555", 1L << 60, "EFI system");
        Entry(2, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "deadbeef-0000-1111-2222-333344445555", 4, "root");
        var gpt = PartitionTableBytes.Parse("gpt", head);
        Assert.Equal("11223344-5566-7788-99AA-BBCCDDEEFF00", gpt.Gpt!.DiskGuid);
        Assert.Equal(new[] { 1, 3 }, gpt.GptEntries.Select(e => e.Number));
        Assert.Equal("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", gpt.GptEntries[0].Type);
        Assert.Equal("0A0B0C0D-0000-1111-2222-333344445555", gpt.GptEntries[0].Guid);
        Assert.Equal(1L << 60, gpt.GptEntries[0].Attributes);
        Assert.Equal("EFI system", gpt.GptEntries[0].Name);
        Assert.Equal("root", gpt.GptEntries[1].Name);
        Assert.Equal(4, gpt.GptEntries[1].Attributes);

        head[512] = (byte)'X';
        Assert.Equal("UnsupportedPartitionTable", Assert.Throws<DiskResizeException>(() => PartitionTableBytes.Parse("gpt", head)).Reason);
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
