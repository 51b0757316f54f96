using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text;
using GuestFs.PowerShell;
using GuestFs.PowerShell.Commands;
using Xunit;

namespace GuestFs.Tests.Cmdlets;

public sealed class CmdletLogicTests
{
    [Theory]
    [InlineData("0644", 0x1A4)]
    [InlineData("755", 0x1ED)]
    [InlineData("4755", 0x9ED)]
    [InlineData("0o700", 0x1C0)]
    [InlineData("999", -1)]
    [InlineData("rwx", -1)]
    [InlineData("", -1)]
    [InlineData("77777", -1)]
    public void Mode_text_parses_as_octal(string text, int expected) => Assert.Equal(expected, SetGuestItemCommand.ParseMode(text));

    [Theory]
    [InlineData("ENOENT", ErrorCategory.ObjectNotFound)]
    [InlineData("EACCES", ErrorCategory.PermissionDenied)]
    [InlineData("EPERM", ErrorCategory.PermissionDenied)]
    [InlineData("EINVAL", ErrorCategory.InvalidArgument)]
    [InlineData("EEXIST", ErrorCategory.ResourceExists)]
    [InlineData("EBUSY", ErrorCategory.ResourceBusy)]
    [InlineData("EROFS", ErrorCategory.WriteError)]
    [InlineData("", ErrorCategory.NotSpecified)]
    [InlineData("EIO", ErrorCategory.WriteError)]
    [InlineData("ENOSPC", ErrorCategory.WriteError)]
    [InlineData("ENOTSUP", ErrorCategory.NotImplemented)]
    [InlineData("EXDEV", ErrorCategory.NotSpecified)]
    public void Errno_names_map_to_categories(string errno, ErrorCategory category) =>
        Assert.Equal(category, GuestCmdlet.CategoryForErrno(errno, reading: false));

    [Fact]
    public void Daemon_errors_become_records_that_keep_the_message_and_target()
    {
        var rec = GuestCmdlet.ToErrorRecord(new GuestFs.Engine.Protocol.GuestFsException("ls0", "ENOENT", "opendir: /x: No such file or directory"), "PathNotFound", "/x", reading: true);
        Assert.Equal(ErrorCategory.ObjectNotFound, rec.CategoryInfo.Category);
        Assert.Equal("/x", rec.TargetObject);
        Assert.Contains("No such file or directory", rec.Exception.Message);
        Assert.Equal(ErrorCategory.ReadError, GuestCmdlet.ToErrorRecord(new GuestFs.Engine.Protocol.GuestFsException("pread", "EIO", "io"), "X", null, reading: true).CategoryInfo.Category);
    }

    [Fact]
    public void Item_rules_are_the_same_for_cmdlets_and_provider()
    {
        Assert.Equal("RemoveRootRefused", GuestItemOperations.CheckRemoveRoot("/", "vm:/")!.FullyQualifiedErrorId);
        Assert.Null(GuestItemOperations.CheckRemoveRoot("/etc", "/etc"));
        foreach (var bad in new[] { "", ".", "..", "a/b" })
            Assert.Equal("NewNameNotAName", GuestItemOperations.CheckNewName(bad, "Move-Item")!.FullyQualifiedErrorId);
        Assert.Null(GuestItemOperations.CheckNewName("b.txt", "Move-Item"));
        Assert.Equal("/etc/b.txt", GuestItemOperations.RenameTarget("/etc/a.txt", "b.txt"));
        var file = new GuestFs.Engine.Library.GuestFileInfo { FullName = "/x", ItemType = GuestFs.Engine.Library.GuestItemType.File };
        var dir = new GuestFs.Engine.Library.GuestFileInfo { FullName = "/d", ItemType = GuestFs.Engine.Library.GuestItemType.Directory };
        Assert.Null(GuestItemOperations.CheckReplace(null, force: false, "move", "/a", "/x"));
        Assert.Null(GuestItemOperations.CheckReplace(file, force: true, "move", "/a", "/x"));
        var noForce = GuestItemOperations.CheckReplace(file, force: false, "rename", "/a", "/x")!;
        Assert.Equal("DestinationExists", noForce.FullyQualifiedErrorId);
        Assert.Contains("-Force", noForce.Exception.Message);
        var directory = GuestItemOperations.CheckReplace(dir, force: true, "move", "/a", "/d")!;
        Assert.Contains("does not replace directories", directory.Exception.Message);
        Assert.Equal("CopyIntoItself", GuestItemOperations.CheckCopy(dir, "/d", "/d/sub/d", "/d", "/d/sub/d")!.FullyQualifiedErrorId);
        Assert.Equal("CopyIntoItself", GuestItemOperations.CheckCopy(dir, "/d", "/d", "/d", "/d")!.FullyQualifiedErrorId);
        Assert.Null(GuestItemOperations.CheckCopy(dir, "/d", "/dd", "/d", "/dd"));
        Assert.Null(GuestItemOperations.CheckCopy(file, "/x", "/x/y", "/x", "/x/y"));
    }

    [Fact]
    public void Everyday_daemon_errors_are_said_in_PowerShell_words_and_keep_the_daemon_text()
    {
        var rofs = new GuestFs.Engine.Protocol.GuestFsException("write", "EROFS", "/mnt/x.txt: Read-only file system");
        var rec = GuestCmdlet.ToErrorRecord(rofs, "SetContentFailed", "/mnt/x.txt");
        Assert.Equal("SetContentFailed", rec.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.WriteError, rec.CategoryInfo.Category);
        Assert.StartsWith("'/mnt/x.txt' is on a filesystem mounted read-only", rec.Exception.Message);
        var kept = Assert.IsAssignableFrom<GuestFs.Engine.Protocol.GuestFsException>(rec.Exception);
        Assert.Equal("EROFS", kept.ErrnoName);
        Assert.Equal(rofs.DaemonMessage, kept.DaemonMessage);
        Assert.Same(rofs, rec.Exception.InnerException);

        var stub = new GuestFs.Engine.Protocol.GuestFsException("xfs_info", "ENOTSUP",
            "feature 'xfs' is not available in this\nbuild of libguestfs.  Read 'AVAILABILITY' in the guestfs(3) man page for\nhow to check for the availability of features.");
        var f = GuestCmdlet.ToErrorRecord(stub, "X", "/");
        Assert.Equal("FeatureNotAvailable", f.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.NotImplemented, f.CategoryInfo.Category);
        Assert.Contains("feature_available -groups xfs", f.Exception.Message);

        var inner = GuestCmdlet.ToErrorRecord(new GuestFs.Engine.Protocol.GuestFsException("internal_readlinklist", "EINVAL", "bad thing"), "X", "/a");
        Assert.DoesNotContain("internal_", inner.Exception.Message);
        Assert.Equal("/a: bad thing", inner.Exception.Message);

        // An errno without a translation keeps the daemon's words.
        var other = GuestCmdlet.ToErrorRecord(new GuestFs.Engine.Protocol.GuestFsException("mv", "EXDEV", "cross-device"), "X", "/a");
        Assert.Equal("mv: cross-device", other.Exception.Message);
    }

    [Theory]
    [InlineData("utf8", "utf-8")]
    [InlineData("latin1", "iso-8859-1")]
    [InlineData("unicode", "utf-16")]
    [InlineData("ascii", "us-ascii")]
    public void Encoding_names_resolve(string name, string webName) => Assert.Equal(webName, ContentEncoding.Resolve(name).WebName);

    [Fact]
    public void An_unknown_encoding_lists_the_valid_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => ContentEncoding.Resolve("klingon"));
        Assert.Contains("utf8", e.Message);
    }

    [Fact]
    public void Lines_are_split_across_chunk_boundaries_and_multibyte_characters()
    {
        var lines = new System.Collections.Generic.List<string>();
        var s = new LineSplittingStream(new UTF8Encoding(false), lines.Add);
        var bytes = Encoding.UTF8.GetBytes("ä1\r\nzwei\nlast ✓");
        foreach (var b in bytes) s.Write(new[] { b }, 0, 1);
        s.Finish();
        Assert.Equal(new[] { "ä1", "zwei", "last ✓" }, lines);
    }
}

/// <summary>The module as PowerShell sees it, hosted in-process (no appliance).</summary>
public sealed class ModuleSurfaceTests
{
    private static System.Management.Automation.PowerShell NewShell()
    {
        var iss = InitialSessionState.CreateDefault2();
        var ps = System.Management.Automation.PowerShell.Create(iss);
        ps.AddCommand("Import-Module").AddParameter("Name", typeof(OpenGuestDiskCommand).Assembly.Location).Invoke();
        ps.Commands.Clear();
        return ps;
    }

    private static readonly string[] Mutating =
    {
        "Mount-GuestFs", "Dismount-GuestFs", "Set-GuestContent", "Add-GuestContent", "Copy-GuestItem", "New-GuestItem",
        "Remove-GuestItem", "Move-GuestItem", "Rename-GuestItem", "Set-GuestItem", "New-GuestDiskImage",
    };

    [Fact]
    public void Every_mutating_cmdlet_supports_WhatIf_and_Confirm()
    {
        using var ps = NewShell();
        foreach (var name in Mutating)
        {
            var cmd = ps.Runspace.SessionStateProxy.InvokeCommand.GetCmdlet(name);
            Assert.True(cmd is not null, $"{name} is not exported");
            Assert.True(cmd!.Parameters.ContainsKey("WhatIf"), $"{name} lacks -WhatIf");
            Assert.True(cmd.Parameters.ContainsKey("Confirm"), $"{name} lacks -Confirm");
        }
    }

    [Fact]
    public void Without_an_open_session_cmdlets_say_how_to_open_one()
    {
        using var ps = NewShell();
        ps.AddCommand("Get-GuestChildItem").AddParameter("Path", "/");
        var e = Assert.Throws<CmdletInvocationException>(() => ps.Invoke()) as Exception;
        var rec = (e as IContainsErrorRecord)!.ErrorRecord;
        Assert.Equal("NoGuestDiskOpen,GuestFs.PowerShell.Commands.GetGuestChildItemCommand", rec.FullyQualifiedErrorId);
        Assert.Contains("Open-GuestDisk", rec.Exception.Message);
    }

    [Fact]
    public void Path_parameters_accept_wildcards_and_have_literal_twins()
    {
        using var ps = NewShell();
        foreach (var name in new[] { "Get-GuestChildItem", "Get-GuestItem", "Test-GuestPath", "Get-GuestContent", "Remove-GuestItem", "Set-GuestItem" })
        {
            var cmd = ps.Runspace.SessionStateProxy.InvokeCommand.GetCmdlet(name)!;
            Assert.True(cmd.Parameters["Path"].Attributes.OfType<SupportsWildcardsAttribute>().Any(), $"{name} -Path");
            Assert.True(cmd.Parameters.ContainsKey("LiteralPath"), $"{name} lacks -LiteralPath");
        }
    }
}
