using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;
using GuestFs.Tests.Wire;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>
/// Windows applications from a fake daemon's hive (hivex_* calls), and the
/// per-session hive lock: one hive open at a time, as guestfsd allows.
/// </summary>
public sealed class WindowsApplicationsTests
{
    private const int HivexOpen = 350, HivexClose = 351, HivexRoot = 352, HivexNodeName = 353, HivexNodeChildren = 354,
        HivexNodeGetChild = 355, HivexNodeGetValue = 358, HivexValueString = 479, InspectGetWindowsSoftwareHive = 494;

    private sealed class Node
    {
        public required long Id;
        public required string Name;
        public List<Node> Children { get; } = new();
        public Dictionary<string, (long Id, string? Text)> Values { get; } = new(StringComparer.OrdinalIgnoreCase);
    }

    private static Task<FakeDaemon.Reply> Ok(Action<GuestFs.Engine.Xdr.XdrWriter> body) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(body));

    /// <summary>A fake daemon serving one hive; <paramref name="log"/> records hive opens and closes.</summary>
    private static FakeDaemon Serve(Node root, List<string> log)
    {
        var all = new Dictionary<long, Node>();
        var values = new Dictionary<long, string?>();
        void Index(Node n)
        {
            all[n.Id] = n;
            foreach (var v in n.Values.Values) values[v.Id] = v.Text;
            foreach (var c in n.Children) Index(c);
        }
        Index(root);
        var d = new FakeDaemon();
        d.Handlers[InspectGetWindowsSoftwareHive] = (_, _) => Ok(w => w.WriteString("/Windows/System32/config/SOFTWARE"));
        d.Handlers[HivexOpen] = (req, _) => { lock (log) log.Add("open " + req.Reader().ReadString()); return Ok(_ => { }); };
        d.Handlers[HivexClose] = (_, _) => { lock (log) log.Add("close"); return Ok(_ => { }); };
        d.Handlers[HivexRoot] = (_, _) => Ok(w => w.WriteInt64(root.Id));
        d.Handlers[HivexNodeName] = (req, _) => { long id = req.Reader().ReadInt64(); return Ok(w => w.WriteString(all[id].Name)); };
        d.Handlers[HivexNodeChildren] = (req, _) =>
        {
            long id = req.Reader().ReadInt64();
            return Ok(w => { w.WriteUInt32((uint)all[id].Children.Count); foreach (var c in all[id].Children) w.WriteInt64(c.Id); });
        };
        d.Handlers[HivexNodeGetChild] = (req, _) =>
        {
            var r = req.Reader();
            long id = r.ReadInt64();
            string name = r.ReadString();
            var c = all[id].Children.FirstOrDefault(x => string.Equals(x.Name, name, StringComparison.OrdinalIgnoreCase));
            return Ok(w => w.WriteInt64(c?.Id ?? 0));
        };
        d.Handlers[HivexNodeGetValue] = (req, _) =>
        {
            var r = req.Reader();
            long id = r.ReadInt64();
            string key = r.ReadString();
            return Ok(w => w.WriteInt64(all[id].Values.TryGetValue(key, out var v) ? v.Id : 0));
        };
        d.Handlers[HivexValueString] = (req, _) =>
        {
            long id = req.Reader().ReadInt64();
            return values[id] is { } text
                ? Ok(w => w.WriteString(text))
                : Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Error("EINVAL", "value is not a string"));
        };
        return d;
    }

    private static long s_next = 100;

    private static Node Key(string name, params Node[] children)
    {
        var n = new Node { Id = s_next++, Name = name };
        n.Children.AddRange(children);
        return n;
    }

    private static Node App(string name, params (string Key, string? Text)[] values)
    {
        var n = Key(name);
        foreach (var (k, t) in values) n.Values[k] = (s_next++, t);
        return n;
    }

    private static Node Path(Node leaf, params string[] names)
    {
        for (int i = names.Length - 1; i >= 0; i--) leaf = Key(names[i], leaf);
        return leaf;
    }

    [Fact]
    public async Task Both_uninstall_keys_are_read_keys_without_a_DisplayName_skipped_and_names_sorted_as_strcmp_sorts()
    {
        var native = Key("Uninstall",
            App("{GUID-1}", ("DisplayName", "Editor"), ("DisplayVersion", "2.1"), ("Publisher", "Example"), ("InstallLocation", @"C:\Editor"),
                ("URLInfoAbout", "https://e.example/"), ("Comments", "an editor")),
            App("apple", ("DisplayName", "Apple"), ("DisplayVersion", null)),
            App("KB1", ("UninstallString", "wusa")),
            App("NoString", ("DisplayName", null)));
        var wow = Key("Uninstall", App("Zeta", ("DisplayName", "Zeta 32-bit"), ("DisplayVersion", "7")));
        var root = Key("ROOT",
            Path(native, "Microsoft", "Windows", "CurrentVersion"),
            Key("Wow6432Node", Path(wow, "Microsoft", "Windows", "CurrentVersion")));
        var log = new List<string>();
        await using var d = Serve(root, log);
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        var apps = await s.ListApplicationsAsync(new GuestOSInfo { Root = "/dev/sda2", Type = "windows", Distro = "windows" });

        Assert.Equal(new[] { "Zeta", "apple", "{GUID-1}" }, apps.Select(a => a.Name));
        var editor = apps[2];
        Assert.Equal(("Editor", "2.1", "Example", @"C:\Editor", "https://e.example/", "an editor"),
            (editor.DisplayName, editor.Version, editor.Publisher, editor.InstallPath, editor.Url, editor.Description));
        Assert.Equal("", apps[1].Version);
        Assert.Equal("Zeta 32-bit", apps[0].DisplayName);
        Assert.Equal(new[] { "open /Windows/System32/config/SOFTWARE", "close" }, log);
    }

    [Fact]
    public async Task Hive_users_of_one_session_take_turns()
    {
        var log = new List<string>();
        await using var d = Serve(Key("ROOT"), log);
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);
        var firstInside = new TaskCompletionSource();
        var release = new TaskCompletionSource();

        var first = s.WithHiveAsync("/a", write: false, async ct =>
        {
            firstInside.SetResult();
            await release.Task;
            lock (log) log.Add("first done");
            return 1;
        });
        await firstInside.Task;
        var second = s.WithHiveAsync("/b", write: false, ct => { lock (log) log.Add("second inside"); return Task.FromResult(2); });
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        release.SetResult();
        Assert.Equal((1, 2), (await first, await second));
        Assert.Equal(new[] { "open /a", "first done", "close", "open /b", "second inside", "close" }, log);
    }
}
