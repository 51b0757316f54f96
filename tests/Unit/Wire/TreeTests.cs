using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

/// <summary>
/// GetTreeAsync against a fake daemon serving a small filesystem model: readdir per level,
/// the fallbacks (entries of unknown type, a directory too large for one readdir reply),
/// and the lstat and link data attached to each entry.
/// </summary>
public sealed class TreeTests
{
    private const int Readdir = 138, Lstatnslist = 423, Readlinklist = 206, Ls0 = 347;
    private const long Dir = 0x41ED, File = 0x81A4, Link = 0xA1FF;

    // path -> (mode, inode, link target); directories list their children by prefix.
    private static readonly Dictionary<string, (long Mode, long Ino, string? Target)> Model = new(StringComparer.Ordinal)
    {
        ["/t"] = (Dir, 2, null),
        ["/t/a"] = (Dir, 3, null),
        ["/t/a/x"] = (File, 4, null),
        ["/t/f"] = (File, 5, null),
        ["/t/ln"] = (Link, 6, "a/x"),
        ["/t/u1"] = (Dir, 7, null),       // readdir gives it type 'u' (unknown)
        ["/t/u1/y"] = (File, 8, null),
        ["/t/big"] = (Dir, 9, null),      // readdir cannot encode its reply
        ["/t/big/sub"] = (Dir, 10, null),
        ["/t/big/sub/z"] = (File, 11, null),
        ["/t/big/b1"] = (File, 12, null),
    };

    private static IEnumerable<string> Children(string dir) =>
        Model.Keys.Where(k => k.StartsWith(dir + "/", StringComparison.Ordinal) && k.IndexOf('/', dir.Length + 1) < 0)
                  .Select(k => k.Substring(dir.Length + 1));

    [Fact]
    public async Task Tree_walks_by_readdir_per_level_and_falls_back_for_unknown_types_and_huge_directories()
    {
        await using var d = new FakeDaemon();
        var readdirs = new List<string>();
        int ls0 = 0;
        d.Handlers[Readdir] = (req, _) =>
        {
            string dir = req.Reader().ReadString();
            lock (readdirs) readdirs.Add(dir);
            FakeDaemon.Reply reply;
            if (dir == "/t/big")
                reply = new FakeDaemon.Error("", "guestfsd: failed to encode reply body\n(maybe the reply exceeds the maximum message size in the protocol?)");
            else if (!Model.ContainsKey(dir))
                reply = new FakeDaemon.Error("ENOENT", "No such file or directory");
            else
                reply = new FakeDaemon.Ok(w =>
                {
                    var names = new[] { ".", ".." }.Concat(Children(dir)).ToArray();
                    w.WriteUInt32((uint)names.Length);
                    foreach (var n in names)
                    {
                        string full = dir + "/" + n;
                        char type = n is "." or ".." ? 'd' : full == "/t/u1" ? 'u' : Model[full].Mode switch { Dir => 'd', Link => 'l', _ => 'r' };
                        w.WriteInt64(Model.TryGetValue(full, out var m) ? m.Ino : 1);
                        w.WriteChar(type);
                        w.WriteString(n);
                    }
                });
            return Task.FromResult(reply);
        };
        d.Handlers[Ls0] = async (req, daemon) =>
        {
            string dir = req.Reader().ReadString();
            Interlocked.Increment(ref ls0);
            Assert.Equal("/t/big", dir);
            await daemon.SendReplyAsync(req, new FakeDaemon.Ok());
            await daemon.SendFileAsync(Encoding.UTF8.GetBytes(string.Join("\0", Children(dir)) + "\0"));
            return new FakeDaemon.None();
        };
        d.Handlers[Lstatnslist] = (req, _) =>
        {
            var r = req.Reader();
            string dir = r.ReadString();
            int n = (int)r.ReadUInt32();
            var names = new string[n];
            for (int k = 0; k < n; k++) names[k] = r.ReadString();
            return Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w =>
            {
                w.WriteUInt32((uint)n);
                foreach (var name in names)
                {
                    var m = Model.TryGetValue(dir + "/" + name, out var x) ? x : (0, -1, null);
                    for (int f = 0; f < 22; f++) w.WriteInt64(f == 1 ? m.Item2 : f == 2 ? m.Item1 : f == 7 ? 100 + m.Item2 : 0);
                }
            }));
        };
        d.Handlers[Readlinklist] = (req, _) =>
        {
            var r = req.Reader();
            string dir = r.ReadString();
            int n = (int)r.ReadUInt32();
            var names = new string[n];
            for (int k = 0; k < n; k++) names[k] = r.ReadString();
            return Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w => w.WriteStringArray(names.Select(x => Model[dir + "/" + x].Target ?? "").ToArray())));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        var tree = await s.GetTreeAsync("/t").WaitAsync(TimeSpan.FromSeconds(30));

        var expected = Model.Keys.Where(k => k.StartsWith("/t/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, tree.Select(t => t.FullName).ToArray());
        foreach (var t in tree)
        {
            var m = Model[t.FullName];
            Assert.Equal(m.Ino, t.Inode);
            Assert.Equal((int)m.Mode, t.UnixMode);
            Assert.Equal(100 + m.Ino, t.Length);
            Assert.Equal(m.Target, t.Target);
        }
        Assert.Equal(GuestItemType.Directory, tree.Single(t => t.FullName == "/t/u1").ItemType);
        // Level by level: /t; then a, u1 (found by lstat) and big; then sub (found below big).
        Assert.Equal(new[] { "/t", "/t/a", "/t/big", "/t/u1", "/t/big/sub" }.Order(), readdirs.Order());
        Assert.Equal(1, ls0);

        // maxDepth 0: the directory's own entries only.
        var top = await s.GetTreeAsync("/t", 0).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(new[] { "/t/a", "/t/big", "/t/f", "/t/ln", "/t/u1" }, top.Select(t => t.FullName).ToArray());
        // A missing start is the daemon's error; a file as the start has no entries.
        var e = await Assert.ThrowsAsync<GuestFsException>(() => s.GetTreeAsync("/nope").WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("ENOENT", e.ErrnoName);
    }
}
