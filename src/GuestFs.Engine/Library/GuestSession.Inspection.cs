using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestApplication = GuestFs.Engine.Library.GuestApplication;

namespace GuestFs.Engine.Session;

/// <summary>What <see cref="GuestSession.MountOperatingSystemAsync"/> did with one mount point.</summary>
public sealed record GuestInspectedMount(string MountPoint, string Device, bool ReadOnly, string? Error)
{
    public bool Mounted => Error is null;
}

public sealed partial class GuestSession
{
    private (long Generation, string[] Roots)? _inspectCache;

    /// <summary>
    /// inspect_os (17–20 s under TCG), or its last answer while nothing that could
    /// change the disks' content has run since (mounting and unmounting cannot).
    /// The daemon keeps its inspection data, so the inspect_get_* calls still answer.
    /// </summary>
    private async Task<string[]> InspectOsCachedAsync(CancellationToken cancellationToken)
    {
        long generation = ContentGeneration;
        if (_inspectCache is { } c && c.Generation == generation)
        {
            Say(MessageLevel.Verbose, "inspection: nothing changed since the last inspect_os, reusing its answer");
            return (string[])c.Roots.Clone();
        }
        var roots = await InspectOsAsync(cancellationToken).ConfigureAwait(false);
        _inspectCache = (generation, roots);
        return (string[])roots.Clone();
    }

    /// <summary>
    /// Runs the daemon's inspection (inspect_os) and returns the root filesystem of
    /// every operating system found. inspect_os unmounts everything first; the
    /// filesystems mounted before the call are mounted again afterwards at the
    /// same places, read-only where they were read-only (other mount options are
    /// not kept).
    /// </summary>
    public async Task<string[]> InspectOperatingSystemsAsync(CancellationToken cancellationToken = default)
    {
        var saved = await SaveMountsAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await InspectOsCachedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await RestoreMountsAsync(saved, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Everything inspection knows about one root (inspect_os must have run in this
    /// appliance, e.g. through <see cref="InspectOperatingSystemsAsync"/>).
    /// </summary>
    public async Task<GuestOSInfo> GetOSInfoAsync(string root, CancellationToken cancellationToken = default)
    {
        var ct = cancellationToken;
        string type = await InspectGetTypeAsync(root, ct).ConfigureAwait(false);
        string distro = await InspectGetDistroAsync(root, ct).ConfigureAwait(false);
        string product = await InspectGetProductNameAsync(root, ct).ConfigureAwait(false);
        string variant = await InspectGetProductVariantAsync(root, ct).ConfigureAwait(false);
        int major = await InspectGetMajorVersionAsync(root, ct).ConfigureAwait(false);
        int minor = await InspectGetMinorVersionAsync(root, ct).ConfigureAwait(false);
        string arch = await InspectGetArchAsync(root, ct).ConfigureAwait(false);
        string hostname = await InspectGetHostnameAsync(root, ct).ConfigureAwait(false);
        string pkgFormat = await InspectGetPackageFormatAsync(root, ct).ConfigureAwait(false);
        string pkgMgmt = await InspectGetPackageManagementAsync(root, ct).ConfigureAwait(false);
        var mps = await InspectGetMountpointsAsync(root, ct).ConfigureAwait(false);
        var fses = await InspectGetFilesystemsAsync(root, ct).ConfigureAwait(false);
        var drives = GuestDriveLetterList.Empty;
        if (type == "windows")
        {
            drives = new GuestDriveLetterList((await InspectGetDriveMappingsAsync(root, ct).ConfigureAwait(false))
                .OrderBy(k => k.Key, StringComparer.Ordinal)
                .Select(kv => new GuestDriveLetter(kv.Key, kv.Value)));
        }
        var mountpoints = new GuestMountpointList(SortForMounting(mps).Select(kv => new GuestMountpoint(kv.Key, kv.Value)));
        return new GuestOSInfo
        {
            Root = root,
            Type = type,
            Distro = distro,
            ProductName = product,
            ProductVariant = variant,
            MajorVersion = major,
            MinorVersion = minor,
            Architecture = arch,
            Hostname = hostname,
            PackageFormat = pkgFormat,
            PackageManagement = pkgMgmt,
            OSInfo = OSInfoId(type, distro, major, minor, product, variant),
            Mountpoints = mountpoints,
            Filesystems = new GuestTextList(fses),
            DriveMappings = drives,
        };
    }

    /// <summary>
    /// Inspects the disks and describes every operating system found. With
    /// <paramref name="includeApplications"/> each one's filesystems are mounted
    /// read-only in turn (what was mounted before is put back afterwards) and its
    /// package database is read.
    /// </summary>
    /// <param name="onApplicationsError">
    /// Called (on an engine thread) when one operating system's applications cannot
    /// be listed — for example an unsupported package format; that system is still
    /// returned, with null <see cref="GuestOSInfo.Applications"/>. Without it the exception is thrown.
    /// </param>
    public async Task<GuestOSInfo[]> GetOperatingSystemsAsync(bool includeApplications, Action<GuestOSInfo, Exception>? onApplicationsError = null,
        CancellationToken cancellationToken = default)
    {
        var saved = await SaveMountsAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var roots = await InspectOsCachedAsync(cancellationToken).ConfigureAwait(false);
            var result = new List<GuestOSInfo>(roots.Length);
            foreach (var root in roots.OrderBy(r => r, StringComparer.Ordinal))
            {
                var info = await GetOSInfoAsync(root, cancellationToken).ConfigureAwait(false);
                if (includeApplications)
                {
                    await UmountAllAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        await MountOperatingSystemAsync(root, readOnly: true, cancellationToken).ConfigureAwait(false);
                        info = info with { Applications = new GuestApplicationList(await ListApplicationsAsync(info, cancellationToken).ConfigureAwait(false)) };
                    }
                    catch (Exception e) when (onApplicationsError is not null && e is NotSupportedException or InvalidDataException
                                              or GuestFsException and not GuestFsProtocolException)
                    {
                        onApplicationsError(info, e);
                    }
                    finally
                    {
                        if (State == GuestSessionState.Ready) await UmountAllAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                }
                result.Add(info);
            }
            return result.ToArray();
        }
        finally
        {
            await RestoreMountsAsync(saved, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Mounts an inspected operating system's filesystems where it mounts them
    /// itself, shortest mount point first (so / comes before /boot), read-only or
    /// read-write — what guestfish -i does. Failing to mount / throws; any other
    /// mount point that fails is reported in the result (and as a warning) and skipped.
    /// </summary>
    public async Task<GuestInspectedMount[]> MountOperatingSystemAsync(string root, bool readOnly, CancellationToken cancellationToken = default)
    {
        var mps = await InspectGetMountpointsAsync(root, cancellationToken).ConfigureAwait(false);
        var done = new List<GuestInspectedMount>();
        foreach (var (mp, device) in SortForMounting(mps))
            done.Add(await MountOneAsync(device, mp, readOnly, required: mp == "/", "root filesystem", "operating system", cancellationToken).ConfigureAwait(false));
        return done.ToArray();
    }

    /// <summary>
    /// One mount of an inspected system: read-only or read-write; a required one (the root, the
    /// system drive) that fails throws naming it, any other is skipped with a warning and its error.
    /// </summary>
    private async Task<GuestInspectedMount> MountOneAsync(string device, string mp, bool readOnly, bool required, string role, string system,
        CancellationToken cancellationToken)
    {
        try
        {
            if (readOnly) await MountRoAsync(device, mp, cancellationToken).ConfigureAwait(false);
            else await MountAsync(device, mp, cancellationToken).ConfigureAwait(false);
            return new GuestInspectedMount(mp, device, readOnly, null);
        }
        catch (GuestFsException e) when (e is not GuestFsProtocolException)
        {
            if (required)
                throw new GuestFsException(e.Procedure, e.ErrnoName,
                    $"the {role} {device} of the {system} could not be mounted on {mp}: {e.DaemonMessage}", e);
            Say(MessageLevel.Warning, $"{device} could not be mounted on {mp} (skipped): {e.DaemonMessage}");
            return new GuestInspectedMount(mp, device, readOnly, e.DaemonMessage);
        }
    }

    /// <summary>
    /// The installed applications of an inspected operating system whose
    /// filesystems are mounted (as libguestfs's inspect_list_applications2
    /// expects). deb reads /var/lib/dpkg/status; rpm asks the daemon's librpm;
    /// Windows reads the Uninstall keys of the SOFTWARE hive.
    /// Other package formats throw <see cref="NotSupportedException"/> naming the format;
    /// a guest without a known package manager has none.
    /// </summary>
    public async Task<IReadOnlyList<GuestApplication>> ListApplicationsAsync(GuestOSInfo os, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(os);
        if (os.Type is "linux" or "hurd")
        {
            switch (os.PackageFormat)
            {
                case "deb":
                    {
                        const string status = "/var/lib/dpkg/status";
                        long size = await FilesizeAsync(status, cancellationToken).ConfigureAwait(false);
                        if (size > InspectionDpkg.MaxStatusSize)
                            throw new InvalidDataException($"{status} in {os.Root} is {size:N0} bytes, more than the {InspectionDpkg.MaxStatusSize:N0} read for safety");
                        var bytes = await ReadFileAsync(status, cancellationToken).ConfigureAwait(false);
                        return InspectionDpkg.ParseStatus(bytes);
                    }
                case "rpm":
                    {
                        var list = await InternalListRpmApplicationsAsync(cancellationToken).ConfigureAwait(false);
                        return list.Select(a => new GuestApplication
                        {
                            Name = a.App2Name,
                            DisplayName = a.App2DisplayName,
                            Epoch = a.App2Epoch,
                            Version = a.App2Version,
                            Release = a.App2Release,
                            Arch = a.App2Arch,
                            InstallPath = a.App2InstallPath,
                            Publisher = a.App2Publisher,
                            Url = a.App2Url,
                            SourcePackage = a.App2SourcePackage,
                            Summary = a.App2Summary,
                            Description = a.App2Description,
                        }).OrderBy(a => a.Name, StringComparer.Ordinal).ToArray();
                    }
                case "pacman":
                case "apk":
                    throw new NotSupportedException($"listing the applications of a guest that uses the '{os.PackageFormat}' package format is not implemented (GuestFs reads deb and rpm databases and the Windows registry)");
                default:
                    return Array.Empty<GuestApplication>();
            }
        }
        if (os.Type == "windows")
            return await ListWindowsApplicationsAsync(os.Root, cancellationToken).ConfigureAwait(false);
        return Array.Empty<GuestApplication>();
    }

    // The Uninstall keys libguestfs's library reads (lib/inspect-apps.c): native
    // applications, then the 32-bit ones of a 64-bit system (WOW64). hivex looks
    // names up without regard to case, so the spelling of WOW6432Node does not matter.
    private static readonly string[][] s_uninstallKeys =
    {
        new[] { "Microsoft", "Windows", "CurrentVersion", "Uninstall" },
        new[] { "WOW6432Node", "Microsoft", "Windows", "CurrentVersion", "Uninstall" },
    };

    /// <summary>
    /// The applications of a Windows guest whose filesystems are mounted: every child
    /// of the two Uninstall keys of its SOFTWARE hive that has a DisplayName string,
    /// named by its key; version, install path, publisher, URL and description from
    /// DisplayVersion, InstallLocation, Publisher, URLInfoAbout and Comments (empty
    /// when missing or not a string), sorted by name as libguestfs sorts them.
    /// </summary>
    private async Task<IReadOnlyList<GuestApplication>> ListWindowsApplicationsAsync(string root, CancellationToken cancellationToken)
    {
        string hive = await InspectGetWindowsSoftwareHiveAsync(root, cancellationToken).ConfigureAwait(false);
        var apps = await WithHiveAsync(hive, write: false, async ct =>
        {
            var list = new List<GuestApplication>();
            long top = await HivexRootAsync(ct).ConfigureAwait(false);
            foreach (var path in s_uninstallKeys)
            {
                long node = top;
                foreach (var name in path)
                {
                    node = await HivexNodeGetChildAsync(node, name, ct).ConfigureAwait(false);
                    if (node == 0) break;
                }
                if (node == 0) continue;
                foreach (var child in await HivexNodeChildrenAsync(node, ct).ConfigureAwait(false))
                {
                    long h = child.HivexNodeH;
                    string name = await HivexNodeNameAsync(h, ct).ConfigureAwait(false);
                    string? display = await HiveStringValueOrNullAsync(h, "DisplayName", ct).ConfigureAwait(false);
                    if (display is null) continue;
                    list.Add(new GuestApplication
                    {
                        Name = name,
                        DisplayName = display,
                        Version = await HiveStringValueOrNullAsync(h, "DisplayVersion", ct).ConfigureAwait(false) ?? "",
                        InstallPath = await HiveStringValueOrNullAsync(h, "InstallLocation", ct).ConfigureAwait(false) ?? "",
                        Publisher = await HiveStringValueOrNullAsync(h, "Publisher", ct).ConfigureAwait(false) ?? "",
                        Url = await HiveStringValueOrNullAsync(h, "URLInfoAbout", ct).ConfigureAwait(false) ?? "",
                        Description = await HiveStringValueOrNullAsync(h, "Comments", ct).ConfigureAwait(false) ?? "",
                    });
                }
            }
            return list;
        }, cancellationToken).ConfigureAwait(false);
        // libguestfs sorts with strcmp: byte order of the UTF-8 names.
        return apps.OrderBy(a => a.Name, Utf8ByteOrder.Instance).ToArray();
    }

    /// <summary>strcmp order of UTF-8 strings.</summary>
    private sealed class Utf8ByteOrder : IComparer<string>
    {
        public static readonly Utf8ByteOrder Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = GuestFs.Engine.Xdr.GuestText.Encode(x ?? "");
            var b = GuestFs.Engine.Xdr.GuestText.Encode(y ?? "");
            return a.AsSpan().SequenceCompareTo(b);
        }
    }

    /// <summary>Mount points in mounting order: shortest first, then ordinal (/ before /boot before /boot/efi).</summary>
    public static IEnumerable<KeyValuePair<string, string>> SortForMounting(IEnumerable<KeyValuePair<string, string>> mountpoints) =>
        mountpoints.OrderBy(kv => kv.Key.Length).ThenBy(kv => kv.Key, StringComparer.Ordinal);

    /// <summary>The libosinfo short id libguestfs derives from inspection data ("unknown" when none fits).</summary>
    public static string OSInfoId(string type, string distro, int major, int minor, string productName, string productVariant)
    {
        switch (type)
        {
            case "linux":
                switch (distro)
                {
                    case "centos" when major >= 8: return $"centos{major}";
                    case "centos" when major == 7: return "centos7.0";
                    case "centos" when major == 6: return $"centos6.{minor}";
                    case "rocky" when major >= 8: return $"rocky{major}";
                    case "debian" when major >= 4: return $"debian{major}";
                    case "fedora" or "mageia": return $"{distro}{major}";
                    case "sles": return minor == 0 ? $"sles{major}" : $"sles{major}sp{minor}";
                    case "ubuntu": return $"ubuntu{major}.{minor:00}";
                    case "archlinux" or "gentoo" or "voidlinux": return distro;
                    case "altlinux": return major >= 8 ? $"alt{major}.{minor}" : $"altlinux{major}.{minor}";
                }
                return distro != "unknown" && (major > 0 || minor > 0) ? $"{distro}{major}.{minor}" : "unknown";
            case "freebsd" or "netbsd" or "openbsd":
                return $"{distro}{major}.{minor}";
            case "dos":
                return distro == "msdos" ? "msdos6.22" : "unknown";
            case "windows":
                bool server = productVariant.Contains("Server", StringComparison.Ordinal);
                return (major, minor) switch
                {
                    (5, 1) => "winxp",
                    (5, 2) => productName.Contains("XP", StringComparison.Ordinal) ? "winxp"
                        : productName.Contains("R2", StringComparison.Ordinal) ? "win2k3r2" : "win2k3",
                    (6, 0) => server ? "win2k8" : "winvista",
                    (6, 1) => server ? "win2k8r2" : "win7",
                    (6, 2) => server ? "win2k12" : "win8",
                    (6, 3) => server ? "win2k12r2" : "win8.1",
                    (10, 0) when server => productName.Contains("2022", StringComparison.Ordinal) ? "win2k22"
                        : productName.Contains("2019", StringComparison.Ordinal) ? "win2k19" : "win2k16",
                    (10, 0) => "win10",
                    _ => "unknown",
                };
            default:
                return "unknown";
        }
    }

    // ------------------------------------------------------------ keeping the caller's mounts

    /// <summary>
    /// Runs <paramref name="work"/>, which may mount and unmount as it needs, and then puts
    /// back what was mounted before (read-only or not), whether it succeeded or not.
    /// </summary>
    public async Task<T> KeepingMountsAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken = default)
    {
        var saved = await SaveMountsAsync(cancellationToken).ConfigureAwait(false);
        try { return await work().ConfigureAwait(false); }
        finally { await RestoreMountsAsync(saved, CancellationToken.None).ConfigureAwait(false); }
    }

    private async Task<List<GuestInspectedMount>> SaveMountsAsync(CancellationToken ct)
    {
        var saved = new List<GuestInspectedMount>();
        foreach (var (device, mp) in await MountpointsAsync(ct).ConfigureAwait(false))
        {
            bool ro = false;
            try
            {
                // ST_RDONLY is bit 0 of f_flag.
                ro = ((await StatvfsAsync(mp, ct).ConfigureAwait(false)).Flag & 1) != 0;
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
            saved.Add(new GuestInspectedMount(mp, device, ro, null));
        }
        return saved;
    }

    private async Task RestoreMountsAsync(List<GuestInspectedMount> saved, CancellationToken ct)
    {
        if (saved.Count == 0 || State != GuestSessionState.Ready) return;
        try
        {
            var now = await MountpointsAsync(ct).ConfigureAwait(false);
            if (now.Count > 0) await UmountAllAsync(ct).ConfigureAwait(false);
        }
        catch (GuestFsException e) when (e is not GuestFsProtocolException)
        {
            Say(MessageLevel.Warning, $"could not unmount before restoring the earlier mounts: {e.DaemonMessage}");
        }
        foreach (var m in saved.OrderBy(m => m.MountPoint.Length).ThenBy(m => m.MountPoint, StringComparer.Ordinal))
        {
            try
            {
                if (m.ReadOnly) await MountRoAsync(m.Device, m.MountPoint, ct).ConfigureAwait(false);
                else await MountAsync(m.Device, m.MountPoint, ct).ConfigureAwait(false);
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException)
            {
                Say(MessageLevel.Warning, $"{m.Device} was mounted on {m.MountPoint} before inspection and could not be mounted again: {e.DaemonMessage}");
            }
        }
    }
}
