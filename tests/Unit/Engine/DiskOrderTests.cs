using System.Collections.Generic;
using GuestFs.Engine.Launch;
using Xunit;

namespace GuestFs.Tests.Engine;

public class DiskOrderTests
{
    [Theory]
    [InlineData(0, "a")]
    [InlineData(1, "b")]
    [InlineData(25, "z")]
    [InlineData(26, "aa")]
    [InlineData(27, "ab")]
    [InlineData(701, "zz")]
    [InlineData(702, "aaa")]
    public void Drive_names_follow_libguestfs(int index, string name) => Assert.Equal(name, DiskOrder.DriveName(index));

    [Fact]
    public void Disks_in_target_order_pass()
    {
        const string output = "sda 0:0:0:0\nsdb 0:0:1:0\nsdc 0:0:2:0\n";
        Assert.Null(DiskOrder.Check(output, new List<int> { 0, 1, 2 }));
    }

    [Fact]
    public void Swapped_disks_are_caught_and_named()
    {
        // What a busy guest does when two hot-plugged probes finish in the other order.
        const string output = "sda 0:0:1:0\nsdb 0:0:0:0\n";
        var problem = DiskOrder.Check(output, new List<int> { 0, 1 });
        Assert.NotNull(problem);
        Assert.Contains("/dev/sda is SCSI target 1", problem);
    }

    [Fact]
    public void A_missing_or_extra_disk_is_caught()
    {
        Assert.Contains("1 SCSI disk(s) for 2 drive(s)", DiskOrder.Check("sda 0:0:0:0\n", new List<int> { 0, 1 }));
        Assert.Contains("3 SCSI disk(s) for 2 drive(s)", DiskOrder.Check("sda 0:0:0:0\nsdb 0:0:1:0\nsdc 0:0:2:0\n", new List<int> { 0, 1 }));
        Assert.Contains("/dev/sdb is missing", DiskOrder.Check("sda 0:0:0:0\nsdc 0:0:1:0\n", new List<int> { 0, 1 }));
    }

    [Fact]
    public void Noise_lines_are_ignored()
    {
        Assert.Null(DiskOrder.Check("\nvda 0000:00:03.0\nsda 0:0:0:0\ngarbage\n", new List<int> { 0 }));
    }

    [Fact]
    public void Device_list_must_be_exactly_the_drive_names()
    {
        Assert.Null(DiskOrder.CheckNames(new[] { "/dev/sdb", "/dev/sda" }, 2));
        Assert.NotNull(DiskOrder.CheckNames(new[] { "/dev/sda", "/dev/sda" }, 2));
        Assert.NotNull(DiskOrder.CheckNames(new[] { "/dev/sda" }, 2));
        Assert.NotNull(DiskOrder.CheckNames(new[] { "/dev/sda", "/dev/sdc" }, 2));
        Assert.Null(DiskOrder.CheckNames(System.Array.Empty<string>(), 0));
    }
}
