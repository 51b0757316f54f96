using System;
using System.IO;
using System.Linq;
using System.Text;
using GuestFs.Engine.Api;
using GuestFs.Engine.Session;
using GuestFs.PowerShell.Commands;
using Xunit;

namespace GuestFs.Tests.Engine;

public sealed class XattrListTests
{
    private static GuestXattr Count(string n) => new() { Attrname = "", Attrval = Encoding.ASCII.GetBytes(n + "\0") };
    private static GuestXattr Attr(string name, string value) => new() { Attrname = name, Attrval = Encoding.UTF8.GetBytes(value) };

    [Fact]
    public void The_flat_reply_splits_per_name_with_attributes_sorted()
    {
        var flat = new[]
        {
            Count("2"), Attr("user.z", "1"), Attr("user.a", "2"),
            Count("0"),
            new GuestXattr { Attrname = "", Attrval = Array.Empty<byte>() }, // llistxattr failed for this one
            Count("1"), Attr("security.selinux", "x"),
        };
        var split = GuestSession.SplitXattrList(new[] { "f1", "f2", "f3", "f4" }, flat).ToArray();
        Assert.Equal(new[] { "f1", "f2", "f3", "f4" }, split.Select(s => s.Name));
        Assert.Equal(new[] { "user.a", "user.z" }, split[0].Attrs.Select(a => a.Attrname));
        Assert.Empty(split[1].Attrs);
        Assert.Empty(split[2].Attrs);
        Assert.Equal("security.selinux", Assert.Single(split[3].Attrs).Attrname);
    }

    [Fact]
    public void A_reply_that_does_not_fit_the_names_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => GuestSession.SplitXattrList(new[] { "a", "b" }, new[] { Count("0") }).ToArray());
        Assert.Throws<InvalidDataException>(() => GuestSession.SplitXattrList(new[] { "a" }, new[] { Count("3"), Attr("user.x", "") }).ToArray());
        Assert.Throws<InvalidDataException>(() => GuestSession.SplitXattrList(new[] { "a" }, new[] { Count("0"), Attr("user.x", "") }).ToArray());
        Assert.Throws<InvalidDataException>(() => GuestSession.SplitXattrList(new[] { "a" }, new[] { Attr("user.x", "") }).ToArray());
    }

    [Fact]
    public void Differences_name_added_removed_and_changed_attributes()
    {
        var a = new[] { Attr("user.same", "v"), Attr("user.gone", "v"), Attr("user.edit", "1") };
        var b = new[] { Attr("user.same", "v"), Attr("user.new", "v"), Attr("user.edit", "2") };
        Assert.Equal(new[] { "user.edit", "user.gone", "user.new" }, CompareGuestItemCommand.XattrDifferences(a, b));
        Assert.Empty(CompareGuestItemCommand.XattrDifferences(a, a.Reverse().ToArray()));
        Assert.Equal(new[] { "user.x" }, CompareGuestItemCommand.XattrDifferences(null, new[] { Attr("user.x", "") }));
    }
}
