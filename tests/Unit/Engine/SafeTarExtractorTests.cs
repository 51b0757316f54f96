using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>Guest tar streams are untrusted: nothing may land outside the destination.</summary>
public sealed class SafeTarExtractorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("guestfs-tar-").FullName;
    private readonly List<(string, string)> _skipped = new();

    public void Dispose() => Directory.Delete(_dir, true);

    private static MemoryStream Tar(Action<TarWriter> build)
    {
        var ms = new MemoryStream();
        using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true)) build(w);
        ms.Position = 0;
        return ms;
    }

    private static PaxTarEntry File(string name, string content) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };

    private async Task<string> Extract(MemoryStream tar, bool overwrite = false)
    {
        string root = Path.Combine(_dir, "dest");
        var x = new SafeTarExtractor(root, overwrite) { Skipped = (n, w) => _skipped.Add((n, w)) };
        await x.ExtractAsync(tar, default);
        return root;
    }

    [Fact]
    public async Task Ordinary_files_directories_and_links_are_extracted()
    {
        var root = await Extract(Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "./sub/"));
            w.WriteEntry(File("./sub/a.txt", "hello"));
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "./link") { LinkName = "sub/a.txt" });
        }));
        Assert.Equal("hello", System.IO.File.ReadAllText(Path.Combine(root, "sub/a.txt")));
        Assert.Equal("sub/a.txt", new FileInfo(Path.Combine(root, "link")).LinkTarget);
        Assert.Empty(_skipped);
        Assert.Empty(Directory.GetFiles(root, "*partial*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("/etc/evil")]
    [InlineData("../evil")]
    [InlineData("./sub/../../evil")]
    [InlineData("a/../../evil")]
    public async Task Absolute_names_and_dotdot_are_refused(string name)
    {
        await Extract(Tar(w => w.WriteEntry(File(name, "x"))));
        Assert.False(System.IO.File.Exists(Path.Combine(_dir, "evil")));
        Assert.False(System.IO.File.Exists("/etc/evil"));
        Assert.Contains(_skipped, s => s.Item1 == name && s.Item2.Contains("refused"));
    }

    [Fact]
    public async Task Nothing_is_written_through_a_symlink_from_the_archive()
    {
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        await Extract(Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "escape") { LinkName = outside });
            w.WriteEntry(File("escape/pwned.txt", "x"));
        }));
        Assert.False(System.IO.File.Exists(Path.Combine(outside, "pwned.txt")));
    }

    [Fact]
    public async Task Nothing_is_written_through_a_symlink_already_in_the_destination()
    {
        string outside = Path.Combine(_dir, "outside2");
        Directory.CreateDirectory(outside);
        string root = Path.Combine(_dir, "dest");
        Directory.CreateDirectory(root);
        System.IO.File.CreateSymbolicLink(Path.Combine(root, "escape"), outside);
        await Extract(Tar(w => w.WriteEntry(File("escape/pwned.txt", "x"))));
        Assert.False(System.IO.File.Exists(Path.Combine(outside, "pwned.txt")));
        Assert.Contains(_skipped, s => s.Item2.Contains("symbolic link"));
    }

    [Fact]
    public async Task Hard_links_to_outside_are_not_followed()
    {
        await Extract(Tar(w => w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "h") { LinkName = "/etc/passwd" })));
        Assert.False(System.IO.File.Exists(Path.Combine(_dir, "dest", "h")));
        Assert.NotEmpty(_skipped);
    }

    [Fact]
    public async Task Device_nodes_and_fifos_are_skipped_with_a_reason()
    {
        await Extract(Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "null") { DeviceMajor = 1, DeviceMinor = 3 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "fifo"));
        }));
        Assert.False(Path.Exists(Path.Combine(_dir, "dest", "null")));
        Assert.False(Path.Exists(Path.Combine(_dir, "dest", "fifo")));
        Assert.Equal(2, _skipped.Count);
    }

    [Fact]
    public async Task Setuid_bits_are_dropped()
    {
        var root = await Extract(Tar(w =>
        {
            var e = File("suid", "x");
            e.Mode = UnixFileMode.SetUser | UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.OtherExecute;
            w.WriteEntry(e);
        }));
        var mode = System.IO.File.GetUnixFileMode(Path.Combine(root, "suid"));
        Assert.Equal((UnixFileMode)0, mode & UnixFileMode.SetUser);
    }

    [Fact]
    public async Task Setgid_and_sticky_bits_are_dropped_from_files_and_directories()
    {
        var root = await Extract(Tar(w =>
        {
            var dir = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.Directory, "sgid-dir/")
            {
                Mode = UnixFileMode.SetGroup | UnixFileMode.StickyBit | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
            };
            w.WriteEntry(dir);
            var e = File("sgid-dir/sgid", "x");
            e.Mode = UnixFileMode.SetGroup | UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupExecute;
            w.WriteEntry(e);
        }));
        var special = UnixFileMode.SetUser | UnixFileMode.SetGroup | UnixFileMode.StickyBit;
        Assert.Equal((UnixFileMode)0, System.IO.File.GetUnixFileMode(Path.Combine(root, "sgid-dir", "sgid")) & special);
        Assert.Equal((UnixFileMode)0, System.IO.File.GetUnixFileMode(Path.Combine(root, "sgid-dir")) & special);
        Assert.True(System.IO.File.GetUnixFileMode(Path.Combine(root, "sgid-dir", "sgid")).HasFlag(UnixFileMode.UserExecute), "ordinary bits are kept");
    }

    [Fact]
    public async Task Names_with_newlines_spaces_and_non_ascii_survive()
    {
        // The daemon's tar_out is GNU tar in its default (gnu) format.
        static GnuTarEntry Gnu(string name, string content) =>
            new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
        var root = await Extract(Tar(w =>
        {
            w.WriteEntry(Gnu("line\nbreak", "1"));
            w.WriteEntry(Gnu("sp ace 'q\" ünï", "2"));
        }));
        Assert.Equal("1", System.IO.File.ReadAllText(Path.Combine(root, "line\nbreak")));
        Assert.Equal("2", System.IO.File.ReadAllText(Path.Combine(root, "sp ace 'q\" ünï")));
    }

    [Fact]
    public async Task An_over_long_name_is_skipped_with_a_reason_and_the_rest_extracted()
    {
        string name = new string('a', 4000);
        var root = await Extract(Tar(w => { w.WriteEntry(File(name, "x")); w.WriteEntry(File("after", "ok")); }));
        Assert.Contains(_skipped, s => s.Item1 == name);
        Assert.Equal(new[] { Path.Combine(root, "after") }, Directory.GetFiles(root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Existing_files_are_kept_unless_overwrite()
    {
        string root = Path.Combine(_dir, "dest");
        Directory.CreateDirectory(root);
        System.IO.File.WriteAllText(Path.Combine(root, "f"), "old");
        await Extract(Tar(w => w.WriteEntry(File("f", "new"))));
        Assert.Equal("old", System.IO.File.ReadAllText(Path.Combine(root, "f")));
        await Extract(Tar(w => w.WriteEntry(File("f", "new"))), overwrite: true);
        Assert.Equal("new", System.IO.File.ReadAllText(Path.Combine(root, "f")));
    }
}
