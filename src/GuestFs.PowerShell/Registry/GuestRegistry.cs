using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library.Registry;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Registry;

/// <summary>
/// A registry path split into its hive and the key path inside it:
/// HKLM\SOFTWARE\Microsoft is the SOFTWARE hive and ["Microsoft"].
/// </summary>
internal sealed record HivePath(string Prefix, string Hive, string? User, string[] Segments)
{
    /// <summary>The canonical full name: HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft.</summary>
    public string FullName => Segments.Length == 0 ? Prefix : Prefix + "\\" + string.Join("\\", Segments);

    public bool IsSystem => Hive == "SYSTEM";
}

/// <summary>A registry path that names no hive GuestFs can map.</summary>
internal sealed class RegistryPathException : Exception
{
    public RegistryPathException(string errorId, ErrorCategory category, string message) : base(message)
    {
        ErrorId = errorId;
        Category = category;
    }

    public string ErrorId { get; }

    public ErrorCategory Category { get; }
}

/// <summary>What one key holds: its path as the hive spells it, its subkeys' names and its values.</summary>
internal sealed record RegKeySnapshot(string[] Path, string[] SubKeys, RegValue[] Values);

/// <summary>
/// The Windows registry of a disk opened with -Inspect: the hives virt-win-reg maps
/// (HKLM\SAM, SECURITY, SOFTWARE, SYSTEM; HKU\.DEFAULT; HKU\&lt;SID&gt; through the
/// ProfileList; HKU\&lt;user name&gt; as \Users\&lt;name&gt;\NTUSER.DAT), read and
/// changed through the daemon's hivex calls under the session's hive lock.
///
/// Changes never touch a hive file directly: the first change copies the hive to
/// &lt;hive&gt;.guestfs-edit beside it, every change is committed (hivex_commit) to
/// &lt;hive&gt;.guestfs-edit.new and renamed over the copy, and <see cref="CommitAsync"/>
/// (drive removed, disk closed, import finished) renames the copy over the hive.
/// Reads see the copy while there is one.
/// </summary>
internal sealed class GuestRegistryState
{
    private readonly object _lock = new();
    private readonly Dictionary<string, string> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RegKeySnapshot?> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private long _stamp = -1;

    public const string EditSuffix = ".guestfs-edit";

    /// <summary>Hive files with uncommitted changes.</summary>
    public string[] Pending { get { lock (_lock) return _pending.Keys.ToArray(); } }

    // ------------------------------------------------------------ names

    private static readonly (string Pattern, string Prefix, string Hive)[] s_machine =
    {
        ("SAM", @"HKEY_LOCAL_MACHINE\SAM", "SAM"),
        ("SECURITY", @"HKEY_LOCAL_MACHINE\SECURITY", "SECURITY"),
        ("SOFTWARE", @"HKEY_LOCAL_MACHINE\SOFTWARE", "SOFTWARE"),
        ("SYSTEM", @"HKEY_LOCAL_MACHINE\SYSTEM", "SYSTEM"),
    };

    /// <summary>Splits HKLM\…, HKEY_LOCAL_MACHINE\…, HKU\…, HKEY_USERS\… (backslashes or slashes).</summary>
    public static HivePath ParsePath(string path)
    {
        var parts = path.Replace('/', '\\').Split('\\', StringSplitOptions.RemoveEmptyEntries);
        string Bad() => $"'{path}' is not a registry path GuestFs can map to a hive. Use HKLM\\SOFTWARE, HKLM\\SYSTEM, HKLM\\SAM, HKLM\\SECURITY, HKU\\.DEFAULT, HKU\\<SID> or HKU\\<user name> (HKEY_LOCAL_MACHINE and HKEY_USERS spelled out work too).";
        if (parts.Length < 2) throw new RegistryPathException("RegistryPathNotSupported", ErrorCategory.InvalidArgument, Bad());
        // HKLM:\SOFTWARE, as the Registry provider's drives are written, means the same.
        string top = parts[0].TrimEnd(':').ToUpperInvariant();
        var rest = parts.Skip(2).ToArray();
        if (top is "HKLM" or "HKEY_LOCAL_MACHINE")
        {
            foreach (var m in s_machine)
                if (string.Equals(parts[1], m.Pattern, StringComparison.OrdinalIgnoreCase)) return new HivePath(m.Prefix, m.Hive, null, rest);
            throw new RegistryPathException("RegistryPathNotSupported", ErrorCategory.InvalidArgument, Bad());
        }
        if (top is "HKU" or "HKEY_USERS")
        {
            if (parts[1].Equals(".DEFAULT", StringComparison.OrdinalIgnoreCase)) return new HivePath(@"HKEY_USERS\.DEFAULT", "DEFAULT", null, rest);
            return new HivePath(@"HKEY_USERS\" + parts[1], "USER", parts[1], rest);
        }
        throw new RegistryPathException("RegistryPathNotSupported", ErrorCategory.InvalidArgument, Bad());
    }

    /// <summary>
    /// The guest file of a hive: &lt;systemroot&gt;/System32/config/&lt;NAME&gt; on the
    /// inspected Windows root, or the user's NTUSER.DAT.
    /// </summary>
    public async Task<string> GetHiveFileAsync(GuestDisk disk, HivePath hive, CancellationToken ct)
    {
        string cacheKey = hive.Hive + "\n" + (hive.User ?? "").ToUpperInvariant();
        lock (_lock) if (_files.TryGetValue(cacheKey, out var known)) return known;
        var s = disk.Session;
        if (disk.WindowsRoot is not { } root)
            throw new RegistryPathException("NotAWindowsDisk", ErrorCategory.InvalidOperation,
                $"GuestDisk {disk.Id} has no Windows registry to show: it was not opened with -Inspect on a Windows guest. Open it with Open-GuestDisk -Inspect (the registry is read from the inspected Windows system).");
        string systemroot = await s.InspectGetWindowsSystemrootAsync(root, ct).ConfigureAwait(false);
        string drive = await SystemDriveAsync(disk, root, ct).ConfigureAwait(false);
        string file;
        switch (hive.Hive)
        {
            case "USER":
                file = await FindUserHiveAsync(disk, drive, systemroot, hive.User!, ct).ConfigureAwait(false);
                break;
            default:
                file = await ExistingAsync(s, drive + systemroot.TrimEnd('/') + "/System32/config/" + hive.Hive, hive.Prefix, ct).ConfigureAwait(false);
                break;
        }
        lock (_lock) _files[cacheKey] = file;
        return file;
    }

    /// <summary>
    /// Where the system drive is mounted, as a prefix for its paths: "" when on / (-Inspect),
    /// "/C" when Open-GuestDisk -Inspect -PSDrive mounted every letter on a directory of its own.
    /// </summary>
    private static async Task<string> SystemDriveAsync(GuestDisk disk, string root, CancellationToken ct)
    {
        var mounts = await disk.Session.MountpointsAsync(ct).ConfigureAwait(false);
        string? mp = WindowsPath.MountPointOf(mounts, root);
        if (mp is null)
            throw new RegistryPathException("SystemDriveNotMounted", ErrorCategory.ObjectNotFound,
                $"The system drive {root} of the Windows guest on GuestDisk {disk.Id} is not mounted, so its registry cannot be read. Open the disk with Open-GuestDisk -Inspect, which mounts it.");
        return mp.TrimEnd('/');
    }

    private static async Task<string> ExistingAsync(GuestSession s, string path, string what, CancellationToken ct)
    {
        string resolved;
        try { resolved = await s.CaseSensitivePathAsync(path, ct).ConfigureAwait(false); }
        catch (GuestFsException e) when (e is not GuestFsProtocolException) { resolved = path; }
        if (!await s.IsFileAsync(resolved, null, ct).ConfigureAwait(false))
            throw new RegistryPathException("HiveNotFound", ErrorCategory.ObjectNotFound, $"The hive file of {what} ({path}) does not exist on the guest.");
        return resolved;
    }

    private async Task<string> FindUserHiveAsync(GuestDisk disk, string drive, string systemroot, string user, CancellationToken ct)
    {
        var s = disk.Session;
        string? profile = null;
        if (System.Text.RegularExpressions.Regex.IsMatch(user, @"^S-1-5-[-\d]+$", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        {
            var software = new HivePath(@"HKEY_LOCAL_MACHINE\SOFTWARE", "SOFTWARE", null, new[] { "Microsoft", "Windows NT", "CurrentVersion", "ProfileList", user });
            var key = await ReadKeyAsync(disk, software, ct).ConfigureAwait(false);
            var pip = key?.Values.FirstOrDefault(v => v.Name.Equals("ProfileImagePath", StringComparison.OrdinalIgnoreCase));
            if (pip is null || pip.Type is not (RegType.String or RegType.ExpandString))
                throw new RegistryPathException("HiveNotFound", ErrorCategory.ObjectNotFound,
                    $"HKEY_USERS\\{user}: the SID has no ProfileImagePath under HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList.");
            // A Windows path, maybe with %SystemRoot% or %SystemDrive%: the guest path on the system drive.
            string p = RegData.DecodeString(pip.Data);
            p = System.Text.RegularExpressions.Regex.Replace(p, "%systemroot%", systemroot.Replace("$", "$$"), System.Text.RegularExpressions.RegexOptions.IgnoreCase);
            p = System.Text.RegularExpressions.Regex.Replace(p, "%systemdrive%", "", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
            p = System.Text.RegularExpressions.Regex.Replace(p, "^[a-zA-Z]:", "");
            profile = drive + p.Replace('\\', '/');
        }
        else
        {
            foreach (var dir in new[] { "/Users/", "/Documents and Settings/" })
            {
                try
                {
                    string d = await s.CaseSensitivePathAsync(drive + dir + user, ct).ConfigureAwait(false);
                    if (await s.IsDirAsync(d, null, ct).ConfigureAwait(false)) { profile = d; break; }
                }
                catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
            }
            if (profile is null)
                throw new RegistryPathException("HiveNotFound", ErrorCategory.ObjectNotFound,
                    $"HKEY_USERS\\{user}: there is no user directory /Users/{user} or /Documents and Settings/{user} on the guest.");
        }
        return await ExistingAsync(s, profile.TrimEnd('/') + "/NTUSER.DAT", $"HKEY_USERS\\{user}", ct).ConfigureAwait(false);
    }

    private string CurrentFile(string file)
    {
        lock (_lock) return _pending.TryGetValue(file, out var w) ? w : file;
    }

    // ------------------------------------------------------------ reading

    /// <summary>The key a path names, or null when it does not exist.</summary>
    public async Task<RegKeySnapshot?> ReadKeyAsync(GuestDisk disk, HivePath path, CancellationToken ct)
    {
        string file = await GetHiveFileAsync(disk, path, ct).ConfigureAwait(false);
        string cacheKey = file + "\n" + string.Join("\\", path.Segments).ToUpperInvariant();
        lock (_lock)
        {
            if (_stamp != disk.Session.CallCount) _cache.Clear();
            else if (_cache.TryGetValue(cacheKey, out var hit)) return hit;
        }
        var key = await disk.Session.WithHiveAsync(CurrentFile(file), write: false, async c =>
        {
            var (node, names) = await WalkAsync(disk.Session, path, c).ConfigureAwait(false);
            return node == 0 ? null : await SnapshotAsync(disk.Session, node, names, c).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        lock (_lock)
        {
            _cache[cacheKey] = key;
            _stamp = disk.Session.CallCount;
        }
        return key;
    }

    /// <summary>
    /// The key and every key below it down to <paramref name="depth"/> levels, parents
    /// before children in the hive's order, in one open of the hive; null when the key does not exist.
    /// </summary>
    public async Task<List<RegKeySnapshot>?> ReadTreeAsync(GuestDisk disk, HivePath path, int depth, CancellationToken ct)
    {
        string file = await GetHiveFileAsync(disk, path, ct).ConfigureAwait(false);
        return await disk.Session.WithHiveAsync(CurrentFile(file), write: false, async c =>
        {
            var (node, names) = await WalkAsync(disk.Session, path, c).ConfigureAwait(false);
            if (node == 0) return null;
            var list = new List<RegKeySnapshot>();
            async Task Visit(long n, string[] p, int left)
            {
                var snap = await SnapshotAsync(disk.Session, n, p, c).ConfigureAwait(false);
                list.Add(snap);
                if (left <= 0) return;
                foreach (var child in await disk.Session.HivexNodeChildrenAsync(n, c).ConfigureAwait(false))
                {
                    string name = await disk.Session.HivexNodeNameAsync(child.HivexNodeH, c).ConfigureAwait(false);
                    await Visit(child.HivexNodeH, p.Append(name).ToArray(), left - 1).ConfigureAwait(false);
                }
            }
            await Visit(node, names, depth).ConfigureAwait(false);
            return list;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Finds a key in the open hive: names compare without regard to case (hivex's
    /// lookup), and in SYSTEM a first name CurrentControlSet that is no real key is
    /// the ControlSetNNN that Select\Current names. Returns 0 when it does not exist.
    /// </summary>
    internal static async Task<(long Node, string[] Names)> WalkAsync(GuestSession s, HivePath path, CancellationToken ct)
    {
        long node = await s.HivexRootAsync(ct).ConfigureAwait(false);
        var names = new List<string>();
        for (int i = 0; i < path.Segments.Length; i++)
        {
            string seg = path.Segments[i];
            long child = await s.HivexNodeGetChildAsync(node, seg, ct).ConfigureAwait(false);
            if (child == 0 && i == 0 && path.IsSystem && seg.Equals("CurrentControlSet", StringComparison.OrdinalIgnoreCase))
            {
                string? set = await CurrentControlSetAsync(s, node, ct).ConfigureAwait(false);
                if (set is not null)
                {
                    child = await s.HivexNodeGetChildAsync(node, set, ct).ConfigureAwait(false);
                    if (child != 0) { node = child; names.Add("CurrentControlSet"); continue; }
                }
            }
            if (child == 0) return (0, names.ToArray());
            node = child;
            names.Add(await s.HivexNodeNameAsync(node, ct).ConfigureAwait(false));
        }
        return (node, names.ToArray());
    }

    /// <summary>ControlSetNNN from the SYSTEM hive's Select\Current, or null.</summary>
    private static async Task<string?> CurrentControlSetAsync(GuestSession s, long root, CancellationToken ct)
    {
        long select = await s.HivexNodeGetChildAsync(root, "Select", ct).ConfigureAwait(false);
        if (select == 0) return null;
        long v = await s.HivexNodeGetValueAsync(select, "Current", ct).ConfigureAwait(false);
        if (v == 0) return null;
        if (await s.HivexValueTypeAsync(v, ct).ConfigureAwait(false) != RegType.DWord) return null;
        var data = await s.HivexValueValueAsync(v, ct).ConfigureAwait(false);
        if (data.Length != 4) return null;
        return "ControlSet" + BitConverter.ToInt32(data, 0).ToString("D3", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<RegKeySnapshot> SnapshotAsync(GuestSession s, long node, string[] names, CancellationToken ct)
    {
        var subkeys = new List<string>();
        foreach (var child in await s.HivexNodeChildrenAsync(node, ct).ConfigureAwait(false))
            subkeys.Add(await s.HivexNodeNameAsync(child.HivexNodeH, ct).ConfigureAwait(false));
        return new RegKeySnapshot(names, subkeys.ToArray(), await ValuesAsync(s, node, ct).ConfigureAwait(false));
    }

    private static async Task<RegValue[]> ValuesAsync(GuestSession s, long node, CancellationToken ct)
    {
        var values = new List<RegValue>();
        foreach (var v in await s.HivexNodeValuesAsync(node, ct).ConfigureAwait(false))
        {
            long h = v.HivexValueH;
            values.Add(new RegValue(await s.HivexValueKeyAsync(h, ct).ConfigureAwait(false),
                (int)await s.HivexValueTypeAsync(h, ct).ConfigureAwait(false),
                await s.HivexValueValueAsync(h, ct).ConfigureAwait(false)));
        }
        return values.ToArray();
    }

    // ------------------------------------------------------------ changing

    /// <summary>
    /// Applies <paramref name="edit"/> to a hive as one step: on the edit copy, committed
    /// to a new file and renamed over the copy only when the whole edit succeeded.
    /// </summary>
    public async Task ModifyAsync(GuestDisk disk, HivePath hive, Func<HiveEditor, CancellationToken, Task> edit, CancellationToken ct)
    {
        if (disk.ReadOnly) throw new InvalidOperationException($"GuestDisk {disk.Id} is read-only; open it with Open-GuestDisk -Writable to change its registry.");
        string file = await GetHiveFileAsync(disk, hive, ct).ConfigureAwait(false);
        var s = disk.Session;
        string work = file + EditSuffix;
        bool fresh;
        lock (_lock) fresh = !_pending.ContainsKey(file);
        try
        {
            if (fresh) await s.CpAsync(file, work, ct).ConfigureAwait(false);
            await s.WithHiveAsync(work, write: true, async c =>
            {
                await edit(new HiveEditor(s, hive), c).ConfigureAwait(false);
                await s.HivexCommitAsync(work + ".new", c).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);
            await s.MvAsync(work + ".new", work, ct).ConfigureAwait(false);
            lock (_lock) _pending[file] = work;
        }
        catch when (fresh)
        {
            // Nothing was changed: leave no copy behind.
            try { await s.RmFAsync(work, CancellationToken.None).ConfigureAwait(false); } catch (Exception) { }
            throw;
        }
        finally
        {
            lock (_lock) _cache.Clear();
        }
    }

    /// <summary>Drops the uncommitted changes to a hive: its edit copy is removed, the hive stays as it was.</summary>
    public async Task DiscardAsync(GuestDisk disk, string file, CancellationToken ct)
    {
        string? work;
        lock (_lock) _pending.TryGetValue(file, out work);
        if (work is null) return;
        // Forgotten even if the copy cannot be removed: what is pending is committed later.
        try { await disk.Session.RmFAsync(work, ct).ConfigureAwait(false); }
        finally { lock (_lock) { _pending.Remove(file); _cache.Clear(); } }
    }

    /// <summary>Renames the edit copies over their hives (all of them, or only <paramref name="file"/>'s).</summary>
    public async Task<string[]> CommitAsync(GuestDisk disk, string? file, CancellationToken ct)
    {
        string[] files;
        lock (_lock) files = _pending.Keys.Where(f => file is null || f == file).ToArray();
        foreach (var f in files)
        {
            string work;
            lock (_lock) work = _pending[f];
            await disk.Session.MvAsync(work, f, ct).ConfigureAwait(false);
            lock (_lock) { _pending.Remove(f); _cache.Clear(); }
        }
        if (files.Length > 0) await disk.Session.SyncAsync(ct).ConfigureAwait(false);
        return files;
    }
}

/// <summary>Changes to the hive that is open for writing (inside <see cref="GuestRegistryState.ModifyAsync"/>).</summary>
internal sealed class HiveEditor
{
    private readonly GuestSession _s;
    private readonly HivePath _hive;

    public HiveEditor(GuestSession s, HivePath hive)
    {
        _s = s;
        _hive = hive;
    }

    private HivePath At(string[] segments) => _hive with { Segments = segments };

    /// <summary>The node of a key, or 0.</summary>
    public async Task<long> FindAsync(string[] segments, CancellationToken ct) =>
        (await GuestRegistryState.WalkAsync(_s, At(segments), ct).ConfigureAwait(false)).Node;

    /// <summary>The node of a key, created with any missing parents.</summary>
    public async Task<long> EnsureKeyAsync(string[] segments, CancellationToken ct)
    {
        for (int i = segments.Length; i >= 0; i--)
        {
            long node = await FindAsync(segments.Take(i).ToArray(), ct).ConfigureAwait(false);
            if (node == 0) continue;
            for (int k = i; k < segments.Length; k++)
                node = await _s.HivexNodeAddChildAsync(node, segments[k], ct).ConfigureAwait(false);
            return node;
        }
        throw new InvalidOperationException("the hive has no root key");
    }

    /// <summary>Deletes a key and everything below it; false when it does not exist.</summary>
    public async Task<bool> DeleteKeyAsync(string[] segments, CancellationToken ct)
    {
        if (segments.Length == 0) throw new InvalidOperationException("the root key of a hive cannot be deleted");
        long node = await FindAsync(segments, ct).ConfigureAwait(false);
        if (node == 0) return false;
        await _s.HivexNodeDeleteChildAsync(node, ct).ConfigureAwait(false);
        return true;
    }

    public async Task SetValueAsync(string[] segments, string name, int type, byte[] data, CancellationToken ct)
    {
        long node = await FindAsync(segments, ct).ConfigureAwait(false);
        if (node == 0) throw new System.Management.Automation.ItemNotFoundException($"The key '{At(segments).FullName}' does not exist.");
        await _s.HivexNodeSetValueAsync(node, name, type, data, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes values (and may rename one). The daemon has no call that removes a value
    /// (only hivex_node_set_value), so the key is rebuilt: its subtree is read, the key
    /// deleted and added again with the same subkeys and values minus the deleted ones.
    /// The rebuilt keys get hivex's defaults for what the daemon cannot set (class name,
    /// last-write time; security as their parent's). Returns false when none of the names exists.
    /// </summary>
    public async Task<bool> RewriteValuesAsync(string[] segments, Func<RegValue[], RegValue[]?> change, CancellationToken ct)
    {
        if (segments.Length == 0) throw new InvalidOperationException("values of a hive's root key cannot be removed or renamed (the daemon can only rebuild keys below the root)");
        long node = await FindAsync(segments, ct).ConfigureAwait(false);
        if (node == 0) throw new System.Management.Automation.ItemNotFoundException($"The key '{At(segments).FullName}' does not exist.");
        var tree = await ReadSubtreeAsync(node, ct).ConfigureAwait(false);
        var newValues = change(tree.Values);
        if (newValues is null) return false;
        long parent = await _s.HivexNodeParentAsync(node, ct).ConfigureAwait(false);
        string name = await _s.HivexNodeNameAsync(node, ct).ConfigureAwait(false);
        await _s.HivexNodeDeleteChildAsync(node, ct).ConfigureAwait(false);
        long fresh = await _s.HivexNodeAddChildAsync(parent, name, ct).ConfigureAwait(false);
        foreach (var v in newValues) await _s.HivexNodeSetValueAsync(fresh, v.Name, v.Type, v.Data, ct).ConfigureAwait(false);
        foreach (var child in tree.Children) await WriteSubtreeAsync(fresh, child, ct).ConfigureAwait(false);
        return true;
    }

    private sealed record Subtree(string Name, RegValue[] Values, List<Subtree> Children);

    private async Task<Subtree> ReadSubtreeAsync(long node, CancellationToken ct)
    {
        string name = await _s.HivexNodeNameAsync(node, ct).ConfigureAwait(false);
        var values = new List<RegValue>();
        foreach (var v in await _s.HivexNodeValuesAsync(node, ct).ConfigureAwait(false))
            values.Add(new RegValue(await _s.HivexValueKeyAsync(v.HivexValueH, ct).ConfigureAwait(false),
                (int)await _s.HivexValueTypeAsync(v.HivexValueH, ct).ConfigureAwait(false),
                await _s.HivexValueValueAsync(v.HivexValueH, ct).ConfigureAwait(false)));
        var children = new List<Subtree>();
        foreach (var c in await _s.HivexNodeChildrenAsync(node, ct).ConfigureAwait(false))
            children.Add(await ReadSubtreeAsync(c.HivexNodeH, ct).ConfigureAwait(false));
        return new Subtree(name, values.ToArray(), children);
    }

    private async Task WriteSubtreeAsync(long parent, Subtree t, CancellationToken ct)
    {
        long node = await _s.HivexNodeAddChildAsync(parent, t.Name, ct).ConfigureAwait(false);
        foreach (var v in t.Values) await _s.HivexNodeSetValueAsync(node, v.Name, v.Type, v.Data, ct).ConfigureAwait(false);
        foreach (var c in t.Children) await WriteSubtreeAsync(node, c, ct).ConfigureAwait(false);
    }
}
