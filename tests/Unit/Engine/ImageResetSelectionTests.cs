using System;
using System.Linq;
using GuestFs.Engine.Library;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>Which operations Reset-GuestImage runs for a given -Operation / -ExcludeOperation.</summary>
public sealed class ImageResetSelectionTests
{
    [Fact]
    public void Without_a_list_the_default_set_runs()
    {
        var ops = ImageReset.Select(null, null);
        Assert.Equal(ImageReset.DefaultNames, ops);
        Assert.Equal(37, ops.Count);
        Assert.DoesNotContain("fs-uuids", ops);
        Assert.DoesNotContain("user-account", ops);
        Assert.Contains("customize", ops);
        Assert.Equal(43, ImageReset.Operations.Count);
    }

    [Fact]
    public void The_list_is_read_left_to_right_as_virt_sysprep_reads_operations()
    {
        Assert.Equal(new[] { "bash-history", "tmp-files" }, ImageReset.Select(new[] { "tmp-files", "bash-history" }, null));
        var s = ImageReset.Select(new[] { "defaults", "-ssh-hostkeys", "fs-uuids" }, null);
        Assert.Contains("fs-uuids", s);
        Assert.DoesNotContain("ssh-hostkeys", s);
        Assert.Equal(37, s.Count);
        Assert.Equal(43, ImageReset.Select(new[] { "all" }, null).Count);
        Assert.Equal(new[] { "logfiles" }, ImageReset.Select(new[] { "all", "-all", "logfiles" }, null));
        Assert.Equal(new[] { "bash-history", "logfiles" }, ImageReset.Select(new[] { "bash-history,logfiles" }, null));
        Assert.Empty(ImageReset.Select(new[] { "defaults", "-defaults" }, null));
    }

    [Fact]
    public void Exclusions_apply_after_the_list()
    {
        var s = ImageReset.Select(null, new[] { "logfiles", "customize" });
        Assert.Equal(35, s.Count);
        Assert.DoesNotContain("logfiles", s);
    }

    [Fact]
    public void An_unknown_name_is_refused_with_the_valid_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageReset.Select(new[] { "bash-history", "no-such-op" }, null));
        Assert.Contains("'no-such-op'", e.Message);
        Assert.Contains("ssh-hostkeys", e.Message);
        Assert.Contains("yum-uuid", e.Message);
        Assert.Throws<ArgumentException>(() => ImageReset.Select(null, new[] { "nope" }));
    }

    [Fact]
    public void Every_operation_says_what_it_does()
    {
        Assert.All(ImageReset.Operations, o => Assert.False(string.IsNullOrWhiteSpace(o.Description)));
        Assert.Equal(ImageReset.Operations.Select(o => o.Name).OrderBy(n => n, StringComparer.Ordinal), ImageReset.Operations.Select(o => o.Name));
    }
}
