using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Session;

/// <summary>
/// Calls that libguestfs implements on the library side, rebuilt from daemon
/// calls: ls, find, read_file, write, write_append, stat/lstat, the batched
/// lstatnslist/readlinklist, and richer listings built on them.
/// </summary>
public sealed partial class GuestSession
{
    /// <summary>The daemon refuses requests over 4 MiB; libguestfs switches to upload above 2 MiB.</summary>
    public const int InlineWriteLimit = 2 * 1024 * 1024;

    /// <summary>Names per batched lstat/readlink request (as libguestfs does).</summary>
    public const int StatBatchSize = 1000;

    private static string[] SplitNul(MemoryStream ms)
    {
        var buf = ms.GetBuffer().AsSpan(0, (int)ms.Length);
        var list = new List<string>();
        while (buf.Length > 0)
        {
            int i = buf.IndexOf((byte)0);
            var part = i < 0 ? buf : buf.Slice(0, i);
            if (part.Length > 0) list.Add(GuestFs.Engine.Xdr.GuestText.Decode(part));
            if (i < 0) break;
            buf = buf.Slice(i + 1);
        }
        return list.ToArray();
    }

    /// <summary>Names in a directory (without . and ..), sorted ordinally, like libguestfs's ls.</summary>
    public async Task<string[]> LsAsync(string directory, CancellationToken cancellationToken = default)
    {
        using var ms = new MemoryStream();
        await Ls0Async(directory, ms, cancellationToken).ConfigureAwait(false);
        var names = SplitNul(ms);
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }

    /// <summary>Every path below a directory, relative to it, sorted ordinally, like libguestfs's find.</summary>
    public async Task<string[]> FindAsync(string directory, CancellationToken cancellationToken = default)
    {
        using var ms = new MemoryStream();
        await Find0Async(directory, ms, cancellationToken).ConfigureAwait(false);
        var names = SplitNul(ms);
        // The daemon prefixes every name with '/'; find returns them relative.
        for (int i = 0; i < names.Length; i++)
            if (names[i].StartsWith('/')) names[i] = names[i].Substring(1);
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }

    /// <summary>
    /// lstat of many names in one directory with one request per 1000 names.
    /// A name that vanished comes back as null.
    /// </summary>
    public async Task<GuestStatns?[]> LstatnsListAsync(string directory, IReadOnlyList<string> names, CancellationToken cancellationToken = default)
    {
        var result = new GuestStatns?[names.Count];
        for (int start = 0; start < names.Count; start += StatBatchSize)
        {
            int n = Math.Min(StatBatchSize, names.Count - start);
            var batch = names.Skip(start).Take(n).ToArray();
            var stats = await InternalLstatnslistAsync(directory, batch, cancellationToken).ConfigureAwait(false);
            if (stats.Length != n)
                throw new GuestFsException("lstatnslist", "EIO", $"the daemon returned {stats.Length} results for {n} names");
            for (int i = 0; i < n; i++)
                result[start + i] = stats[i].StIno == -1 ? null : stats[i];
        }
        return result;
    }

    /// <summary>readlink of many names in one directory, batched; non-links give an empty string.</summary>
    public async Task<string[]> ReadlinkListAsync(string directory, IReadOnlyList<string> names, CancellationToken cancellationToken = default)
    {
        var result = new string[names.Count];
        for (int start = 0; start < names.Count; start += StatBatchSize)
        {
            int n = Math.Min(StatBatchSize, names.Count - start);
            var batch = names.Skip(start).Take(n).ToArray();
            var links = await InternalReadlinklistAsync(directory, batch, cancellationToken).ConfigureAwait(false);
            if (links.Length != n)
                throw new GuestFsException("readlinklist", "EIO", $"the daemon returned {links.Length} results for {n} names");
            Array.Copy(links, 0, result, start, n);
        }
        return result;
    }

    /// <summary>Turns a statns record into a <see cref="GuestFileInfo"/>.</summary>
    public static GuestFileInfo ToFileInfo(string directory, string name, GuestStatns st, string? target = null) => new()
    {
        Name = name,
        FullName = GuestPath.Combine(directory, name),
        DirectoryName = directory,
        ItemType = GuestFileInfo.TypeFromMode(st.StMode),
        UnixMode = (int)st.StMode,
        Length = st.StSize,
        Uid = st.StUid,
        Gid = st.StGid,
        Inode = st.StIno,
        LinkCount = st.StNlink,
        Blocks = st.StBlocks,
        Device = st.StDev,
        LastWriteTime = GuestFileInfo.FromUnix(st.StMtimeSec, st.StMtimeNsec),
        LastAccessTime = GuestFileInfo.FromUnix(st.StAtimeSec, st.StAtimeNsec),
        ChangeTime = GuestFileInfo.FromUnix(st.StCtimeSec, st.StCtimeNsec),
        Target = target,
    };

    /// <summary>
    /// The entries of one directory with their lstat data and link targets:
    /// one ls0, one lstatnslist per 1000 names, one readlinklist per 1000 links.
    /// </summary>
    public async Task<GuestFileInfo[]> GetDirectoryEntriesAsync(string directory, CancellationToken cancellationToken = default)
    {
        var names = await LsAsync(directory, cancellationToken).ConfigureAwait(false);
        return await StatNamesAsync(directory, names, cancellationToken).ConfigureAwait(false);
    }

    private async Task<GuestFileInfo[]> StatNamesAsync(string directory, IReadOnlyList<string> names, CancellationToken ct)
    {
        if (names.Count == 0) return Array.Empty<GuestFileInfo>();
        var stats = await LstatnsListAsync(directory, names, ct).ConfigureAwait(false);
        var linkNames = new List<string>();
        for (int i = 0; i < names.Count; i++)
            if (stats[i] is { } s && GuestFileInfo.TypeFromMode(s.StMode) == GuestItemType.SymbolicLink)
                linkNames.Add(names[i]);
        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        if (linkNames.Count > 0)
        {
            var links = await ReadlinkListAsync(directory, linkNames, ct).ConfigureAwait(false);
            for (int i = 0; i < linkNames.Count; i++) targets[linkNames[i]] = links[i];
        }
        var result = new List<GuestFileInfo>(names.Count);
        for (int i = 0; i < names.Count; i++)
        {
            if (stats[i] is not { } s) continue; // vanished between ls and lstat
            result.Add(ToFileInfo(directory, names[i], s, targets.TryGetValue(names[i], out var t) ? t : null));
        }
        return result.ToArray();
    }

    private static readonly int s_readdir = ProcedureCatalog.Find("readdir")!.Number;
    private static readonly int s_readlinklist = ProcedureCatalog.Find("internal_readlinklist")!.Number;

    /// <summary>
    /// Every entry below <paramref name="directory"/> with its lstat data and link target,
    /// parents before children, in ordinal order of the relative paths (as libguestfs's
    /// find sorts them). <paramref name="maxDepth"/> 0 means only the directory's own entries.
    /// The tree is walked with readdir, one pipelined batch of calls per level: readdir runs
    /// inside guestfsd and its entry types say where to descend, where find0 starts a find(1)
    /// process that alone (under TCG) costs more than the whole walk. Then the lstat data
    /// (lstatnslist per directory) and the link targets (readlinklist per directory) come in
    /// one pipelined batch each: about depth + 3 round trips for the whole tree.
    /// </summary>
    public async Task<GuestFileInfo[]> GetTreeAsync(string directory, int maxDepth = int.MaxValue, CancellationToken cancellationToken = default)
    {
        directory = GuestPath.Normalize(directory);
        var rel = new List<string>();
        var level = new List<(string Full, string Rel)> { (directory, "") };
        for (int depth = 0; level.Count > 0 && depth <= maxDepth; depth++)
        {
            var requests = level.Select(d => new RpcRequest(s_readdir, "readdir", 0UL, w => w.WriteString(d.Full))).ToArray();
            var replies = await InvokeBatchAsync(requests, static (ref Xdr.XdrReader r) => GuestDirent.ReadList(ref r), cancellationToken).ConfigureAwait(false);
            var next = new List<(string Full, string Rel)>();
            var unknown = new List<(string Full, string Rel)>();
            for (int i = 0; i < level.Count; i++)
            {
                var (dirFull, dirRel) = level[i];
                List<(string Name, char Type)> entries;
                if (replies[i].Error is { } e)
                {
                    // The start is a file: no entries (as find gives). Below it, a directory
                    // that went away during the walk has none either.
                    if (e.ErrnoName == "ENOTDIR" || (depth > 0 && e.ErrnoName == "ENOENT")) continue;
                    // The listing did not fit in one reply (over the protocol's 4 MiB message
                    // limit; guestfsd says it could not encode the reply): ls0 streams it as a
                    // file, lstat gives the types.
                    if (!e.DaemonMessage.Contains("encode reply", StringComparison.Ordinal)) throw e;
                    entries = await ListLargeDirectoryAsync(dirFull, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    entries = new List<(string, char)>(replies[i].Value!.Length);
                    foreach (var d in replies[i].Value!)
                        if (d.Name is not "." and not "..") entries.Add((d.Name, d.Ftyp));
                }
                foreach (var (name, type) in entries)
                {
                    string r = dirRel.Length == 0 ? name : dirRel + "/" + name;
                    rel.Add(r);
                    if (type == 'd') next.Add((GuestPath.Combine(dirFull, name), r));
                    else if (type is 'u' or '?') unknown.Add((GuestPath.Combine(dirFull, name), r));
                }
            }
            // A filesystem that does not give entry types: lstat says which are directories.
            if (unknown.Count > 0)
            {
                var st = await LstatNormalizedAsync(unknown.Select(u => u.Full).ToArray(), cancellationToken).ConfigureAwait(false);
                for (int k = 0; k < unknown.Count; k++)
                    if (st[k].Value is { } x && GuestFileInfo.TypeFromMode(x.StMode) == GuestItemType.Directory) next.Add(unknown[k]);
            }
            level = next;
        }
        rel.Sort(StringComparer.Ordinal);
        var paths = rel.Select(r => GuestPath.Combine(directory, r)).ToArray();
        var stats = await LstatNormalizedAsync(paths, cancellationToken).ConfigureAwait(false);

        // Link targets: one readlinklist per directory (up to StatBatchSize names), pipelined.
        var linkGroups = new List<(string Dir, List<string> Names, List<int> Slots)>();
        var open = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < paths.Length; i++)
        {
            if (stats[i].Error is { } e) throw e;
            if (stats[i].Value is not { } st || GuestFileInfo.TypeFromMode(st.StMode) != GuestItemType.SymbolicLink) continue;
            string dir = GuestPath.GetDirectoryName(paths[i]);
            if (!open.TryGetValue(dir, out int g) || linkGroups[g].Names.Count >= StatBatchSize)
            {
                open[dir] = g = linkGroups.Count;
                linkGroups.Add((dir, new List<string>(), new List<int>()));
            }
            linkGroups[g].Names.Add(GuestPath.GetFileName(paths[i]));
            linkGroups[g].Slots.Add(i);
        }
        var targets = new string?[paths.Length];
        if (linkGroups.Count > 0)
        {
            var requests = linkGroups.Select(x =>
            {
                var names = x.Names.ToArray();
                return new RpcRequest(s_readlinklist, "internal_readlinklist", 0UL, w => { w.WriteString(x.Dir); w.WriteStringArray(names); });
            }).ToArray();
            var replies = await InvokeBatchAsync(requests, Xdr.XdrDecoders.StringArray, cancellationToken).ConfigureAwait(false);
            for (int g = 0; g < linkGroups.Count; g++)
            {
                if (replies[g].Error is { } e) throw e;
                var links = replies[g].Value!;
                if (links.Length != linkGroups[g].Slots.Count)
                    throw new GuestFsException("readlinklist", "EIO", $"the daemon returned {links.Length} results for {linkGroups[g].Slots.Count} names");
                for (int k = 0; k < links.Length; k++) targets[linkGroups[g].Slots[k]] = links[k];
            }
        }
        var result = new List<GuestFileInfo>(paths.Length);
        for (int i = 0; i < paths.Length; i++)
        {
            if (stats[i].Value is not { } st) continue; // went away between readdir and lstat
            result.Add(ToFileInfo(GuestPath.GetDirectoryName(paths[i]), GuestPath.GetFileName(paths[i]), st, targets[i]));
        }
        return result.ToArray();
    }

    /// <summary>A directory too large for one readdir reply: names from ls0, types from lstat.</summary>
    private async Task<List<(string Name, char Type)>> ListLargeDirectoryAsync(string directory, CancellationToken ct)
    {
        var names = await LsAsync(directory, ct).ConfigureAwait(false);
        var stats = await LstatnsListAsync(directory, names, ct).ConfigureAwait(false);
        var list = new List<(string, char)>(names.Length);
        for (int i = 0; i < names.Length; i++)
            if (stats[i] is { } st)
                list.Add((names[i], GuestFileInfo.TypeFromMode(st.StMode) == GuestItemType.Directory ? 'd' : 'r'));
        return list;
    }

    /// <summary>lstat of one path (null when it does not exist), with its link target.</summary>
    public async Task<GuestFileInfo?> GetItemAsync(string path, CancellationToken cancellationToken = default)
    {
        path = GuestPath.Normalize(path);
        if (path == "/")
        {
            return RootItem(await LstatnsAsync("/", cancellationToken).ConfigureAwait(false));
        }
        string dir = GuestPath.GetDirectoryName(path), name = GuestPath.GetFileName(path);
        GuestFileInfo[] r;
        try
        {
            r = await StatNamesAsync(dir, new[] { name }, cancellationToken).ConfigureAwait(false);
        }
        catch (GuestFsException e) when (e.ErrnoName is "ENOENT" or "ENOTDIR")
        {
            return null;
        }
        return r.Length == 1 ? r[0] : null;
    }

    private static readonly int s_lstatnslist = ProcedureCatalog.Find("internal_lstatnslist")!.Number;
    private static readonly int s_lstatns = ProcedureCatalog.Find("lstatns")!.Number;

    /// <summary>
    /// lstat of many paths at once: for each path, in order, its stat, null when it does not
    /// exist (what <see cref="GetItemAsync"/> returns null for), or the error of the call that
    /// asked for it. Symbolic links are not followed. The paths are grouped by directory into
    /// lstatnslist calls (up to StatBatchSize names each) and those calls are pipelined
    /// (<see cref="InvokeBatchAsync{T}"/>): a thousand paths in a hundred directories cost a
    /// hundred daemon calls and about one round trip, where libguestfs makes a thousand calls
    /// one after the other.
    /// </summary>
    public Task<BatchReply<GuestStatns?>[]> LstatManyAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken = default) =>
        LstatNormalizedAsync(paths.Select(p => GuestPath.Normalize(p)).ToArray(), cancellationToken);

    private async Task<BatchReply<GuestStatns?>[]> LstatNormalizedAsync(string[] paths, CancellationToken cancellationToken)
    {
        var result = new BatchReply<GuestStatns?>[paths.Length];
        // (directory, names, the result index of each name), in first-seen order.
        var groups = new List<(string Dir, List<string> Names, List<int> Slots)>();
        var open = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < paths.Length; i++)
        {
            string path = paths[i];
            // "/" has no parent to list it in: "/." names the root inside "/".
            string dir = path == "/" ? "/" : GuestPath.GetDirectoryName(path);
            string name = path == "/" ? "." : GuestPath.GetFileName(path);
            if (!open.TryGetValue(dir, out int g) || groups[g].Names.Count >= StatBatchSize)
            {
                g = groups.Count;
                groups.Add((dir, new List<string>(), new List<int>()));
                open[dir] = g;
            }
            groups[g].Names.Add(name);
            groups[g].Slots.Add(i);
        }
        var requests = groups.Select(x =>
        {
            var names = x.Names.ToArray();
            return new RpcRequest(s_lstatnslist, "internal_lstatnslist", 0UL, w => { w.WriteString(x.Dir); w.WriteStringArray(names); });
        }).ToArray();
        var replies = await InvokeBatchAsync(requests, static (ref Xdr.XdrReader r) => GuestStatns.ReadList(ref r), cancellationToken).ConfigureAwait(false);
        var retry = new List<int>();
        for (int g = 0; g < groups.Count; g++)
        {
            var (_, names, slots) = groups[g];
            var reply = replies[g];
            if (reply.Error is { ErrnoName: "ENOENT" or "ENOTDIR" })
            {
                foreach (int slot in slots) result[slot] = new BatchReply<GuestStatns?>(null, null); // the directory itself is missing
            }
            else if (reply.Error is not null || reply.Value!.Length != names.Count)
            {
                // lstatnslist fails as a whole for one bad name (ENAMETOOLONG, EACCES …):
                // ask for each of its paths alone, so each error lands on its own path.
                retry.AddRange(slots);
            }
            else
            {
                for (int k = 0; k < slots.Count; k++)
                    result[slots[k]] = new BatchReply<GuestStatns?>(reply.Value[k].StIno == -1 ? null : reply.Value[k], null);
            }
        }
        if (retry.Count > 0)
        {
            var single = retry.Select(i => new RpcRequest(s_lstatns, "lstatns", 0UL, w => w.WriteString(paths[i]))).ToArray();
            var answers = await InvokeBatchAsync(single, static (ref Xdr.XdrReader r) => (GuestStatns?)GuestStatns.Read(ref r), cancellationToken).ConfigureAwait(false);
            for (int k = 0; k < retry.Count; k++)
                result[retry[k]] = answers[k].Error is { ErrnoName: "ENOENT" or "ENOTDIR" } ? new BatchReply<GuestStatns?>(null, null) : answers[k];
        }
        return result;
    }

    private static readonly int s_readlink = ProcedureCatalog.Find("readlink")!.Number;

    /// <summary>
    /// <see cref="GetItemAsync"/> for many paths at once: the stats come from
    /// <see cref="LstatManyAsync"/> and the targets of the symbolic links among them from one
    /// more pipelined batch of readlink calls. For each path, in order: its item, null when
    /// it does not exist, or the error of the call that asked for it.
    /// </summary>
    public async Task<BatchReply<GuestFileInfo?>[]> GetItemsAsync(IReadOnlyList<string> givenPaths, CancellationToken cancellationToken = default)
    {
        var paths = givenPaths.Select(p => GuestPath.Normalize(p)).ToArray();
        var stats = await LstatNormalizedAsync(paths, cancellationToken).ConfigureAwait(false);
        var result = new BatchReply<GuestFileInfo?>[paths.Length];
        var links = new List<int>();
        for (int i = 0; i < paths.Length; i++)
        {
            if (stats[i].Error is { } e) result[i] = new BatchReply<GuestFileInfo?>(null, e);
            else if (stats[i].Value is not { } st) result[i] = new BatchReply<GuestFileInfo?>(null, null);
            else if (GuestFileInfo.TypeFromMode(st.StMode) == GuestItemType.SymbolicLink) links.Add(i);
            else result[i] = new BatchReply<GuestFileInfo?>(Item(paths[i], st, null), null);
        }
        if (links.Count > 0)
        {
            var requests = links.Select(i => new RpcRequest(s_readlink, "readlink", 0UL, w => w.WriteString(paths[i]))).ToArray();
            var targets = await InvokeBatchAsync(requests, static (ref Xdr.XdrReader r) => r.ReadString(), cancellationToken).ConfigureAwait(false);
            for (int k = 0; k < links.Count; k++)
            {
                int i = links[k];
                result[i] = targets[k].Error is { } e
                    ? new BatchReply<GuestFileInfo?>(null, e)
                    : new BatchReply<GuestFileInfo?>(Item(paths[i], stats[i].Value!, targets[k].Value), null);
            }
        }
        return result;

        static GuestFileInfo Item(string path, GuestStatns st, string? target) =>
            path == "/" ? RootItem(st) : ToFileInfo(GuestPath.GetDirectoryName(path), GuestPath.GetFileName(path), st, target);
    }

    /// <summary>The root directory as an item: named "/", with no parent.</summary>
    private static GuestFileInfo RootItem(GuestStatns st)
    {
        var root = ToFileInfo("/", "", st);
        return new GuestFileInfo
        {
            Name = "/", FullName = "/", DirectoryName = "", ItemType = root.ItemType, UnixMode = root.UnixMode,
            Length = root.Length, Uid = root.Uid, Gid = root.Gid, Inode = root.Inode, LinkCount = root.LinkCount,
            Blocks = root.Blocks, Device = root.Device, LastWriteTime = root.LastWriteTime,
            LastAccessTime = root.LastAccessTime, ChangeTime = root.ChangeTime,
        };
    }

    /// <summary>The whole content of a guest file (libguestfs's read_file).</summary>
    public async Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken = default)
    {
        using var ms = new MemoryStream();
        await DownloadAsync(path, ms, cancellationToken).ConfigureAwait(false);
        return ms.ToArray();
    }

    /// <summary>Lines of a guest file split on \n, one trailing \r removed per line (read_lines).</summary>
    public async Task<string[]> ReadLinesAsync(string path, CancellationToken cancellationToken = default)
    {
        var text = Encoding.UTF8.GetString(await ReadFileAsync(path, cancellationToken).ConfigureAwait(false));
        if (text.Length == 0) return Array.Empty<string>();
        var lines = text.Split('\n').ToList();
        if (lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return lines.Select(l => l.EndsWith('\r') ? l.Substring(0, l.Length - 1) : l).ToArray();
    }

    /// <summary>Creates or replaces a guest file with <paramref name="content"/> (libguestfs's write).</summary>
    public async Task WriteAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        if (content.Length <= InlineWriteLimit)
        {
            await InternalWriteAsync(path, content.ToArray(), cancellationToken).ConfigureAwait(false);
            return;
        }
        using var ms = new MemoryStream(content.ToArray(), writable: false);
        await UploadAsync(ms, path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Appends to a guest file (libguestfs's write_append; not atomic above 2 MiB).</summary>
    public async Task WriteAppendAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        if (content.Length <= InlineWriteLimit)
        {
            await InternalWriteAppendAsync(path, content.ToArray(), cancellationToken).ConfigureAwait(false);
            return;
        }
        long size = await FilesizeAsync(path, cancellationToken).ConfigureAwait(false);
        using var ms = new MemoryStream(content.ToArray(), writable: false);
        await UploadOffsetAsync(ms, path, size, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when the daemon says the path exists (follows links).</summary>
    public Task<bool> PathExistsAsync(string path, CancellationToken cancellationToken = default) =>
        ExistsAsync(path, cancellationToken);
}
