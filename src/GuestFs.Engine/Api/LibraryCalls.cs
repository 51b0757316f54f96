using System;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Api;

/// <summary>
/// The implementations of the rows of <c>library.table</c>: one method per
/// call, named <c>&lt;PascalName&gt;Async</c>, taking the session, the declared
/// arguments in order and a cancellation token, and returning the declared
/// type (the generated binding in <c>LibraryCatalog.g.cs</c> does not compile
/// when a row has no matching method).
/// </summary>
public static class LibraryCalls
{
    // --- files

    public static async Task<string> CatAsync(GuestSession s, string path, CancellationToken ct)
    {
        var bytes = await s.ReadFileAsync(path, ct).ConfigureAwait(false);
        int nul = Array.IndexOf(bytes, (byte)0);
        return Encoding.UTF8.GetString(bytes, 0, nul < 0 ? bytes.Length : nul);
    }

    public static Task<byte[]> ReadFileAsync(GuestSession s, string path, CancellationToken ct) => s.ReadFileAsync(path, ct);
    public static Task<string[]> ReadLinesAsync(GuestSession s, string path, CancellationToken ct) => s.ReadLinesAsync(path, ct);
    public static Task WriteAsync(GuestSession s, string path, byte[] content, CancellationToken ct) => s.WriteAsync(path, content, ct);
    public static Task WriteAppendAsync(GuestSession s, string path, byte[] content, CancellationToken ct) => s.WriteAppendAsync(path, content, ct);
    public static Task<string[]> LsAsync(GuestSession s, string directory, CancellationToken ct) => s.LsAsync(directory, ct);
    public static Task<string[]> FindAsync(GuestSession s, string directory, CancellationToken ct) => s.FindAsync(directory, ct);

    public static async Task<GuestStatns[]> LstatnslistAsync(GuestSession s, string path, string[] names, CancellationToken ct) =>
        (await s.LstatnsListAsync(path, names, ct).ConfigureAwait(false)).Select(x => x ?? new GuestStatns { StIno = -1 }).ToArray();

    public static Task<string[]> ReadlinklistAsync(GuestSession s, string path, string[] names, CancellationToken ct) =>
        s.ReadlinkListAsync(path, names, ct);

    public static Task<GuestXattr[]> LxattrlistAsync(GuestSession s, string path, string[] names, CancellationToken ct) =>
        s.InternalLxattrlistAsync(path, names, ct);

    public static async Task<GuestStat> StatAsync(GuestSession s, string path, CancellationToken ct) =>
        ToStat(await s.StatnsAsync(path, ct).ConfigureAwait(false));

    public static async Task<GuestStat> LstatAsync(GuestSession s, string path, CancellationToken ct) =>
        ToStat(await s.LstatnsAsync(path, ct).ConfigureAwait(false));

    public static async Task<GuestStat[]> LstatlistAsync(GuestSession s, string path, string[] names, CancellationToken ct) =>
        (await s.LstatnsListAsync(path, names, ct).ConfigureAwait(false)).Select(x => x is null ? new GuestStat { Ino = -1 } : ToStat(x)).ToArray();

    // --- copying between host and guest

    public static Task CopyInAsync(GuestSession s, string localpath, string remotedir, CancellationToken ct) =>
        s.CopyInAsync(localpath, remotedir, null, ct);

    public static Task CopyOutAsync(GuestSession s, string remotepath, string localdir, CancellationToken ct) =>
        s.CopyOutAsync(remotepath, localdir, overwrite: true, cancellationToken: ct);

    // --- devices and mountables

    public static Task<string> CanonicalDeviceNameAsync(GuestSession s, string device, CancellationToken ct) =>
        CanonicalDeviceNameCoreAsync(s, device, ct);

    public static async Task<int> DeviceIndexAsync(GuestSession s, string device, CancellationToken ct)
    {
        int i = Array.IndexOf(await s.ListDevicesAsync(ct).ConfigureAwait(false), device);
        if (i < 0) throw new GuestFsException("device_index", "ENOENT", $"{device}: device not found");
        return i;
    }

    public static async Task<string> MountableDeviceAsync(GuestSession s, string mountable, CancellationToken ct) =>
        (await s.InternalParseMountableAsync(mountable, ct).ConfigureAwait(false)).ImDevice;

    public static async Task<string> MountableSubvolumeAsync(GuestSession s, string mountable, CancellationToken ct)
    {
        var m = await s.InternalParseMountableAsync(mountable, ct).ConfigureAwait(false);
        if (string.IsNullOrEmpty(m.ImVolume))
            throw new GuestFsException("mountable_subvolume", "EINVAL", "not a btrfs subvolume identifier");
        return m.ImVolume;
    }

    public static Task<int> MaxDisksAsync(GuestSession s, CancellationToken ct) => Task.FromResult(255);

    // --- optional features of the appliance

    public static async Task AvailableAsync(GuestSession s, string[] groups, CancellationToken ct)
    {
        foreach (var g in groups)
            if (await s.InternalFeatureAvailableAsync(g, ct).ConfigureAwait(false) != 0)
                throw new GuestFsException("available", "", $"{g}: group not available");
    }

    public static async Task<bool> FeatureAvailableAsync(GuestSession s, string[] groups, CancellationToken ct)
    {
        foreach (var g in groups)
            if (await s.InternalFeatureAvailableAsync(g, ct).ConfigureAwait(false) != 0) return false;
        return true;
    }

    // --- looking inside

    public static Task<GuestTskDirent[]> FilesystemWalkAsync(GuestSession s, string device, CancellationToken ct) =>
        Collect(s.WalkFileSystemAsync(device, ct));

    public static Task<GuestTskDirent[]> FindInodeAsync(GuestSession s, string device, long inode, CancellationToken ct) =>
        Collect(s.FindInodeNamesAsync(device, inode, ct));

    public static Task<GuestYaraDetection[]> YaraScanAsync(GuestSession s, string path, CancellationToken ct) =>
        s.YaraScanFileAsync(path, ct);

    public static Task<GuestXattr[]> JournalGetAsync(GuestSession s, CancellationToken ct) => s.JournalGetEntryAsync(ct);

    private static async Task<T[]> Collect<T>(System.Collections.Generic.IAsyncEnumerable<T> items)
    {
        var list = new System.Collections.Generic.List<T>();
        await foreach (var x in items.ConfigureAwait(false)) list.Add(x);
        return list.ToArray();
    }

    // --- inspection

    public static async Task<string> InspectGetOsinfoAsync(GuestSession s, string root, CancellationToken ct) =>
        (await s.GetOSInfoAsync(root, ct).ConfigureAwait(false)).OSInfo;

    public static async Task<GuestApplication2[]> InspectListApplications2Async(GuestSession s, string root, CancellationToken ct) =>
        (await s.ListApplicationsAsync(await s.GetOSInfoAsync(root, ct).ConfigureAwait(false), ct).ConfigureAwait(false)).Select(ToApp2).ToArray();

    public static async Task<GuestApplication[]> InspectListApplicationsAsync(GuestSession s, string root, CancellationToken ct) =>
        (await s.ListApplicationsAsync(await s.GetOSInfoAsync(root, ct).ConfigureAwait(false), ct).ConfigureAwait(false)).Select(ToApp).ToArray();

    public static Task<byte[]> InspectGetIconAsync(GuestSession s, string root, CancellationToken ct) => s.GetIconAsync(root, ct);

    // --- host-side: disk images (qemu-img), and the handle

    public static async Task<string> DiskFormatAsync(GuestSession s, string filename, CancellationToken ct) =>
        (await DiskImage.InfoAsync(filename, ct).ConfigureAwait(false)).Format;

    public static async Task<long> DiskVirtualSizeAsync(GuestSession s, string filename, CancellationToken ct) =>
        (await DiskImage.InfoAsync(filename, ct).ConfigureAwait(false)).VirtualSize;

    public static async Task<bool> DiskHasBackingFileAsync(GuestSession s, string filename, CancellationToken ct) =>
        (await DiskImage.InfoAsync(filename, ct).ConfigureAwait(false)).BackingFile is not null;

    public static Task<GuestVersion> VersionAsync(GuestSession s, CancellationToken ct) => Task.FromResult(new GuestVersion
    {
        Major = 1, Minor = 48, Release = 6,
        Extra = "GuestFs " + (typeof(LibraryCatalog).Assembly.GetName().Version?.ToString(3) ?? "?"),
    });

    public static Task<int> GetMemsizeAsync(GuestSession s, CancellationToken ct) => Task.FromResult(s.Options.MemoryMB);
    public static Task<int> GetSmpAsync(GuestSession s, CancellationToken ct) => Task.FromResult(s.Options.Smp);

    public static Task<int> GetStateAsync(GuestSession s, CancellationToken ct) =>
        Task.FromResult(s.State switch { GuestSessionState.Launching => 1, GuestSessionState.Ready => 2, _ => 0 });

    public static Task<bool> IsReadyAsync(GuestSession s, CancellationToken ct) => Task.FromResult(s.State == GuestSessionState.Ready);
    public static Task<bool> IsConfigAsync(GuestSession s, CancellationToken ct) => Task.FromResult(s.State == GuestSessionState.Config);
    public static Task<bool> IsLaunchingAsync(GuestSession s, CancellationToken ct) => Task.FromResult(s.State == GuestSessionState.Launching);
    public static Task<bool> IsBusyAsync(GuestSession s, CancellationToken ct) => Task.FromResult(false);

    // --- helpers

    private static GuestApplication2 ToApp2(Library.GuestApplication a) => new()
    {
        App2Name = a.Name, App2DisplayName = a.DisplayName, App2Epoch = a.Epoch, App2Version = a.Version, App2Release = a.Release,
        App2Arch = a.Arch, App2InstallPath = a.InstallPath, App2Publisher = a.Publisher, App2Url = a.Url,
        App2SourcePackage = a.SourcePackage, App2Summary = a.Summary, App2Description = a.Description,
    };

    private static GuestApplication ToApp(Library.GuestApplication a) => new()
    {
        AppName = a.Name, AppDisplayName = a.DisplayName, AppEpoch = a.Epoch, AppVersion = a.Version, AppRelease = a.Release,
        AppInstallPath = a.InstallPath, AppPublisher = a.Publisher, AppUrl = a.Url,
        AppSourcePackage = a.SourcePackage, AppSummary = a.Summary, AppDescription = a.Description,
    };

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
    internal static async Task<string> CanonicalDeviceNameCoreAsync(GuestSession s, string device, CancellationToken ct)
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
