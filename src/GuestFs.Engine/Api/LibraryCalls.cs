using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Api;

/// <summary>
/// The calls that libguestfs 1.48.6 answers in the library rather than in
/// guestfsd (cat, ls, find, write, copy_in, version, disk_format …), rebuilt
/// from daemon calls and qemu-img, callable by name like the daemon's
/// procedures. Each has a <see cref="ProcedureInfo"/> with
/// <see cref="ProcedureInfo.IsLibrary"/> set and number 0. An argument of type
/// <c>String(HostPath)</c> is a path on the host (not opened by the caller).
/// Handlers get values already checked and converted to the declared types.
/// </summary>
/// <remarks>
/// Left out on purpose: the handle's configuration and launch calls (the
/// add_drive family, set_memsize, set_smp, launch … are Open-GuestDisk's
/// parameters and GuestSession's options), mount_local (the GuestFs provider
/// covers it), the libvirt calls (no libvirt here), tracing switches (the
/// -Verbose and -Debug streams), user_cancel and kill_subprocess (Ctrl+C),
/// shutdown (Close-GuestDisk), and calls needing optional appliance parts this
/// appliance lacks (filesystem_walk, find_inode, yara_scan, journal_get, hivex
/// browsing, inspect_get_icon).
/// </remarks>
public static class LibraryCatalog
{
    internal delegate Task<object?> Handler(GuestSession s, IReadOnlyDictionary<string, object?> a, CancellationToken ct);

    private sealed record Entry(ProcedureInfo Info, Handler Run);

    private static readonly Lazy<Dictionary<string, Entry>> s_entries = new(Build);

    /// <summary>Every library-side call, by name.</summary>
    public static IReadOnlyList<ProcedureInfo> All => s_entries.Value.Values.Select(e => e.Info).OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();

    public static ProcedureInfo? Find(string name) => s_entries.Value.TryGetValue(name, out var e) ? e.Info : null;

    internal static Handler? HandlerFor(string name) => s_entries.Value.TryGetValue(name, out var e) ? e.Run : null;

    private static Dictionary<string, Entry> Build()
    {
        var d = new Dictionary<string, Entry>(StringComparer.Ordinal);
        void Add(string name, string ret, string args, string summary, Handler run, string? deprecatedBy = null)
        {
            var list = args.Length == 0
                ? Array.Empty<ArgumentInfo>()
                : args.Split(',').Select(x => x.Trim().Split(':')).Select(x => new ArgumentInfo(x[0], x[1])).ToArray();
            var info = new ProcedureInfo(0, name, ret, list, Array.Empty<OptionalArgumentInfo>(), deprecatedBy is not null, deprecatedBy,
                isInternal: false, isDebug: false, progress: false, group: null, summary: summary, isLibrary: true);
            d.Add(name, new Entry(info, run));
        }
        static string S(IReadOnlyDictionary<string, object?> a, string n) => (string)a[n]!;
        static string[] L(IReadOnlyDictionary<string, object?> a, string n) => (string[])a[n]!;
        static async Task<object?> Done(Task t) { await t.ConfigureAwait(false); return null; }
        static async Task<object?> Box<T>(Task<T> t) => await t.ConfigureAwait(false);

        // --- files
        Add("cat", "RString", "path:String(Pathname)", "Return a small text file's content (up to the first NUL byte).",
            async (s, a, ct) =>
            {
                var bytes = await s.ReadFileAsync(S(a, "path"), ct).ConfigureAwait(false);
                int nul = Array.IndexOf(bytes, (byte)0);
                return Encoding.UTF8.GetString(bytes, 0, nul < 0 ? bytes.Length : nul);
            });
        Add("read_file", "RBufferOut", "path:String(Pathname)", "Return a file's bytes (any size; streamed through download).",
            (s, a, ct) => Box(s.ReadFileAsync(S(a, "path"), ct)));
        Add("read_lines", "RStringList", "path:String(Pathname)", "Return a text file's lines (\\n or \\r\\n endings removed).",
            (s, a, ct) => Box(s.ReadLinesAsync(S(a, "path"), ct)));
        Add("write", "RErr", "path:String(Pathname), content:BufferIn", "Create or replace a file with the given bytes.",
            (s, a, ct) => Done(s.WriteAsync(S(a, "path"), (byte[])a["content"]!, ct)));
        Add("write_append", "RErr", "path:String(Pathname), content:BufferIn", "Append bytes to a file, creating it if needed.",
            (s, a, ct) => Done(s.WriteAppendAsync(S(a, "path"), (byte[])a["content"]!, ct)));
        Add("ls", "RStringList", "directory:String(Pathname)", "List a directory's names, sorted, without . and ..",
            (s, a, ct) => Box(s.LsAsync(S(a, "directory"), ct)));
        Add("find", "RStringList", "directory:String(Pathname)", "List every name below a directory, relative to it, sorted.",
            (s, a, ct) => Box(s.FindAsync(S(a, "directory"), ct)));
        Add("lstatnslist", "RStructList(statns)", "path:String(Pathname), names:StringList(Filename)",
            "lstatns of many names in one directory, in batches (st_ino -1 for a name that is gone).",
            async (s, a, ct) => (await s.LstatnsListAsync(S(a, "path"), L(a, "names"), ct).ConfigureAwait(false))
                .Select(x => x ?? new GuestStatns { StIno = -1 }).ToArray());
        Add("readlinklist", "RStringList", "path:String(Pathname), names:StringList(Filename)",
            "readlink of many names in one directory (\"\" for names that are not links).",
            (s, a, ct) => Box(s.ReadlinkListAsync(S(a, "path"), L(a, "names"), ct)));
        Add("lxattrlist", "RStructList(xattr)", "path:String(Pathname), names:StringList(Filename)",
            "Extended attributes of many names in one directory (a count entry before each name's attributes).",
            (s, a, ct) => Box(s.InternalLxattrlistAsync(S(a, "path"), L(a, "names"), ct)));
        Add("stat", "RStruct(stat)", "path:String(Pathname)", "Old stat with whole seconds; use statns.",
            async (s, a, ct) => ToStat(await s.StatnsAsync(S(a, "path"), ct).ConfigureAwait(false)), deprecatedBy: "statns");
        Add("lstat", "RStruct(stat)", "path:String(Pathname)", "Old lstat with whole seconds; use lstatns.",
            async (s, a, ct) => ToStat(await s.LstatnsAsync(S(a, "path"), ct).ConfigureAwait(false)), deprecatedBy: "lstatns");
        Add("lstatlist", "RStructList(stat)", "path:String(Pathname), names:StringList(Filename)", "Old lstatlist; use lstatnslist.",
            async (s, a, ct) => (await s.LstatnsListAsync(S(a, "path"), L(a, "names"), ct).ConfigureAwait(false))
                .Select(x => x is null ? new GuestStat { Ino = -1 } : ToStat(x)).ToArray(), deprecatedBy: "lstatnslist");

        // --- copying between host and guest
        Add("copy_in", "RErr", "localpath:String(HostPath), remotedir:String(Pathname)",
            "Copy a host file or directory tree into a guest directory (tar through the daemon).",
            (s, a, ct) => Done(s.CopyInAsync(S(a, "localpath"), S(a, "remotedir"), null, ct)));
        Add("copy_out", "RErr", "remotepath:String(Pathname), localdir:String(HostPath)",
            "Copy a guest file or directory tree into an existing host directory; unsafe tar entries are refused.",
            async (s, a, ct) => { await s.CopyOutAsync(S(a, "remotepath"), S(a, "localdir"), overwrite: true, cancellationToken: ct).ConfigureAwait(false); return null; });

        // --- devices and mountables
        Add("canonical_device_name", "RString", "device:String(PlainString)",
            "The name libguestfs uses for a device (/dev/vda1 and /dev/hda1 as /dev/sda1; LVM mapper names as /dev/VG/LV).",
            async (s, a, ct) => await CanonicalDeviceNameAsync(s, S(a, "device"), ct).ConfigureAwait(false));
        Add("device_index", "RInt", "device:String(Device)", "The index of a device in list_devices (0 for /dev/sda).",
            async (s, a, ct) =>
            {
                string dev = S(a, "device");
                int i = Array.IndexOf(await s.ListDevicesAsync(ct).ConfigureAwait(false), dev);
                if (i < 0) throw new GuestFsException("device_index", "ENOENT", $"{dev}: device not found");
                return i;
            });
        Add("mountable_device", "RString", "mountable:String(Mountable)", "The device part of a mountable.",
            async (s, a, ct) => (await s.InternalParseMountableAsync(S(a, "mountable"), ct).ConfigureAwait(false)).ImDevice);
        Add("mountable_subvolume", "RString", "mountable:String(Mountable)", "The btrfs subvolume part of a mountable (EINVAL for a plain device).",
            async (s, a, ct) =>
            {
                var m = await s.InternalParseMountableAsync(S(a, "mountable"), ct).ConfigureAwait(false);
                if (string.IsNullOrEmpty(m.ImVolume))
                    throw new GuestFsException("mountable_subvolume", "EINVAL", "not a btrfs subvolume identifier");
                return m.ImVolume;
            });
        Add("max_disks", "RInt", "", "How many disks one session can hold.", (s, a, ct) => Task.FromResult<object?>(255));

        // --- optional features of the appliance
        Add("available", "RErr", "groups:StringList(PlainString)", "Fail unless every named feature group is available in the appliance.",
            async (s, a, ct) =>
            {
                foreach (var g in L(a, "groups"))
                    if (await s.InternalFeatureAvailableAsync(g, ct).ConfigureAwait(false) != 0)
                        throw new GuestFsException("available", "", $"{g}: group not available");
                return null;
            });
        Add("feature_available", "RBool", "groups:StringList(PlainString)", "Whether every named feature group is available in the appliance.",
            async (s, a, ct) =>
            {
                foreach (var g in L(a, "groups"))
                    if (await s.InternalFeatureAvailableAsync(g, ct).ConfigureAwait(false) != 0) return false;
                return true;
            });

        // --- inspection (what 1.48.6 leaves to the library)
        Add("inspect_get_osinfo", "RString", "root:String(Mountable)", "The libosinfo short id of an inspected system (debian12, win10 …).",
            async (s, a, ct) => (await s.GetOSInfoAsync(S(a, "root"), ct).ConfigureAwait(false)).OSInfo);
        Add("inspect_list_applications2", "RStructList(application2)", "root:String(Mountable)",
            "The applications installed in an inspected system (dpkg status or rpm database).",
            async (s, a, ct) => (await s.ListApplicationsAsync(await s.GetOSInfoAsync(S(a, "root"), ct).ConfigureAwait(false), ct).ConfigureAwait(false)).ToArray());
        Add("inspect_list_applications", "RStructList(application)", "root:String(Mountable)", "Old form of inspect_list_applications2.",
            async (s, a, ct) => (await s.ListApplicationsAsync(await s.GetOSInfoAsync(S(a, "root"), ct).ConfigureAwait(false), ct).ConfigureAwait(false)).ToArray(),
            deprecatedBy: "inspect_list_applications2");

        // --- host-side: disk images (qemu-img), and the handle
        Add("disk_format", "RString", "filename:String(HostPath)", "The format of a disk image on the host (raw, qcow2 …), by qemu-img.",
            async (s, a, ct) => (await DiskImage.InfoAsync(S(a, "filename"), ct).ConfigureAwait(false)).Format);
        Add("disk_virtual_size", "RInt64", "filename:String(HostPath)", "The virtual size in bytes of a disk image on the host.",
            async (s, a, ct) => (await DiskImage.InfoAsync(S(a, "filename"), ct).ConfigureAwait(false)).VirtualSize);
        Add("disk_has_backing_file", "RBool", "filename:String(HostPath)", "Whether a disk image on the host has a backing file.",
            async (s, a, ct) => (await DiskImage.InfoAsync(S(a, "filename"), ct).ConfigureAwait(false)).BackingFile is not null);
        Add("version", "RStruct(version)", "", "The libguestfs API version GuestFs implements (1.48.6), GuestFs's own in extra.",
            (s, a, ct) => Task.FromResult<object?>(new GuestVersion
            {
                Major = 1, Minor = 48, Release = 6,
                Extra = "GuestFs " + (typeof(LibraryCatalog).Assembly.GetName().Version?.ToString(3) ?? "?"),
            }));
        Add("get_memsize", "RInt", "", "The appliance memory in MiB.", (s, a, ct) => Task.FromResult<object?>(s.Options.MemoryMB));
        Add("get_smp", "RInt", "", "The appliance's number of vCPUs.", (s, a, ct) => Task.FromResult<object?>(s.Options.Smp));
        Add("get_state", "RInt", "", "The handle state: 0 config, 1 launching, 2 ready.",
            (s, a, ct) => Task.FromResult<object?>(s.State switch { GuestSessionState.Launching => 1, GuestSessionState.Ready => 2, _ => 0 }));
        Add("is_ready", "RBool", "", "Whether the appliance is up and answering.", (s, a, ct) => Task.FromResult<object?>(s.State == GuestSessionState.Ready));
        return d;
    }

    private static GuestStat ToStat(GuestStatns n) => new()
    {
        Dev = n.StDev, Ino = n.StIno, Mode = n.StMode, Nlink = n.StNlink, Uid = n.StUid, Gid = n.StGid, Rdev = n.StRdev,
        Size = n.StSize, Blksize = n.StBlksize, Blocks = n.StBlocks, Atime = n.StAtimeSec, Mtime = n.StMtimeSec, Ctime = n.StCtimeSec,
    };

    /// <summary>
    /// libguestfs's canonical names: /dev/hdX and /dev/vdX become /dev/sdX
    /// (the appliance's own naming), and a /dev/mapper/ name of an LVM logical
    /// volume becomes /dev/VG/LV; anything else is returned as given.
    /// </summary>
    internal static async Task<string> CanonicalDeviceNameAsync(GuestSession s, string device, CancellationToken ct)
    {
        if ((device.StartsWith("/dev/hd", StringComparison.Ordinal) || device.StartsWith("/dev/vd", StringComparison.Ordinal)) && device.Length > 7)
            return "/dev/sd" + device[7..];
        if (device.StartsWith("/dev/mapper/", StringComparison.Ordinal))
        {
            try { return await s.LvmCanonicalLvNameAsync(device, ct).ConfigureAwait(false); }
            catch (GuestFsException e) when (e.ErrnoName == "EINVAL") { return device; }
        }
        return device;
    }
}
