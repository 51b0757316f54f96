using GuestFs.PowerShell.Provider;
using Xunit;

namespace GuestFs.Tests.Cmdlets;

/// <summary>The GuestFs provider's path syntax (no PowerShell, no appliance).</summary>
public sealed class ProviderPathTests
{
    [Theory]
    [InlineData(@"vm:\etc\hosts", "vm:/etc/hosts")]
    [InlineData("vm://etc//hosts/", "vm:/etc/hosts/")]
    [InlineData(@"etc\\x", "etc/x")]
    [InlineData("", "")]
    public void Normalize_turns_backslashes_into_single_slashes(string input, string expected) =>
        Assert.Equal(expected, GuestFsPath.Normalize(input));

    [Theory]
    [InlineData("vm:/", "etc", "vm:/etc")]
    [InlineData("vm:", "etc", "vm:/etc")]
    [InlineData("vm:/etc", "hosts", "vm:/etc/hosts")]
    [InlineData("vm:/etc/", "/hosts", "vm:/etc/hosts")]
    [InlineData("boot:/grub", "x", "boot:/grub/x")]
    [InlineData("", "etc/hosts", "etc/hosts")]
    [InlineData("etc", "hosts", "etc/hosts")]
    [InlineData("vm:/etc", "", "vm:/etc/")]
    [InlineData("vm:/", "", "vm:/")]
    [InlineData("vm:/etc", "/", "vm:/etc/")]
    [InlineData("", "", "")]
    [InlineData(@"vm:\etc", @"a\b", "vm:/etc/a/b")]
    public void MakePath_joins_like_PowerShell_expects(string parent, string child, string expected) =>
        Assert.Equal(expected, GuestFsPath.MakePath(parent, child));

    [Theory]
    [InlineData("vm:/etc/hosts", "vm:/", "vm:/etc")]
    [InlineData("vm:/etc", "vm:/", "vm:/")]
    [InlineData("vm:/etc/", "vm:/", "vm:/")]
    [InlineData("vm:/", "vm:/", "")]
    [InlineData("vm:/", "vm:", "")]
    [InlineData("vm:", null, "")]
    [InlineData("vm:/etc", null, "vm:/")]
    [InlineData("boot:/grub", "boot:/", "boot:/")]
    [InlineData("boot:/", "boot:/", "")]
    [InlineData("etc/hosts", "vm:/", "etc")]
    [InlineData("etc", "vm:/", "")]
    [InlineData("/etc", "", "/")]
    [InlineData("/", "", "")]
    [InlineData(@"vm:\etc\hosts", "vm:/", "vm:/etc")]
    public void GetParentPath_stops_at_the_root(string path, string? root, string expected) =>
        Assert.Equal(expected, GuestFsPath.GetParentPath(path, root));

    [Theory]
    [InlineData("vm:/etc/hosts", "hosts")]
    [InlineData("vm:/etc/", "etc")]
    [InlineData("vm:/", "")]
    [InlineData("vm:", "")]
    [InlineData("etc", "etc")]
    [InlineData("etc/a b.txt", "a b.txt")]
    [InlineData("/", "")]
    [InlineData("", "")]
    [InlineData("vm:/data/a:b", "a:b")]
    public void GetChildName_is_the_last_element(string path, string expected) =>
        Assert.Equal(expected, GuestFsPath.GetChildName(path));

    [Fact]
    public void Parent_and_child_always_rebuild_the_path()
    {
        // PowerShell's globber loops on GetChildName/GetParentPath and throws if
        // the parent of a path with a child name is the path itself.
        foreach (var p in new[] { "vm:/a/b/c", "vm:/a", "a/b", "boot:/x/y" })
        {
            string child = GuestFsPath.GetChildName(p), parent = GuestFsPath.GetParentPath(p, null);
            Assert.NotEqual(p, parent);
            Assert.Equal(p, GuestFsPath.MakePath(parent, child));
        }
    }

    [Theory]
    [InlineData("vm:/etc/hosts", true, "vm", "/etc/hosts")]
    [InlineData("my-drive.2:/x", true, "my-drive.2", "/x")]
    [InlineData("/etc/a:b", false, "", "/etc/a:b")]
    [InlineData("etc/a:b", false, "", "etc/a:b")]
    [InlineData(":x", false, "", ":x")]
    public void TrySplitDrive_finds_the_drive_name(string path, bool found, string drive, string rest)
    {
        Assert.Equal(found, GuestFsPath.TrySplitDrive(path, out var d, out var r));
        Assert.Equal(drive, d);
        Assert.Equal(rest, r);
    }

    [Theory]
    [InlineData("vm:/etc/hosts", "/etc/hosts")]
    [InlineData("vm:/etc/../x/./y/", "/x/y")]
    [InlineData("vm:/../..", "/")]
    [InlineData("vm:", "/")]
    [InlineData("etc/hosts", "/etc/hosts")]
    [InlineData(@"vm:\data\space name.txt", "/data/space name.txt")]
    [InlineData("/etc", "/etc")]
    public void ToRootedPath_gives_the_path_inside_the_drive(string providerPath, string expected) =>
        Assert.Equal(expected, GuestFsPath.ToRootedPath(providerPath));

    [Theory]
    [InlineData("/", "/etc", "/etc")]
    [InlineData("/boot", "/", "/boot")]
    [InlineData("/boot", "/grub/x", "/boot/grub/x")]
    public void ToGuestPath_puts_the_drive_root_in_front(string root, string rooted, string expected) =>
        Assert.Equal(expected, GuestFsPath.ToGuestPath(root, rooted));

    [Theory]
    [InlineData("/", "/etc/hosts", "vm:/etc/hosts")]
    [InlineData("/", "/", "vm:/")]
    [InlineData("/boot", "/boot", "vm:/")]
    [InlineData("/boot", "/boot/grub", "vm:/grub")]
    [InlineData("/boot", "/bootx", null)]
    [InlineData("/boot", "/etc", null)]
    public void FromGuestPath_is_the_inverse(string root, string guestPath, string? expected) =>
        Assert.Equal(expected, GuestFsPath.FromGuestPath("vm", root, guestPath));

    [Theory]
    [InlineData("/boot/grub", "/boot", true)]
    [InlineData("/boot", "/boot", true)]
    [InlineData("/bootx", "/boot", false)]
    [InlineData("/etc", "/", true)]
    public void IsAtOrBelow_compares_whole_elements(string path, string root, bool expected) =>
        Assert.Equal(expected, GuestFsPath.IsAtOrBelow(path, root));

    [Theory]
    [InlineData("vm:/etc/hosts", "vm:/", "etc/hosts")]
    [InlineData("vm:/etc/hosts", "vm:/etc", "hosts")]
    [InlineData("vm:/etc/hosts", "vm:/data/small", "../../etc/hosts")]
    [InlineData("vm:/etc", "vm:/etc", "../etc")]
    [InlineData("vm:/etc/", "vm:/", "etc/")]
    [InlineData("vm:/", "vm:/etc", "..")]
    [InlineData("other:/etc", "vm:/", "other:/etc")]
    public void MakeRelative_walks_up_and_down(string path, string basePath, string expected) =>
        Assert.Equal(expected, GuestFsPath.MakeRelative(path, basePath));
}
