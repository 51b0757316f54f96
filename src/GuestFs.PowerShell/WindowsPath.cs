using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.PowerShell;

/// <summary>
/// C:\Windows\System32-style paths on a disk opened with -Inspect on a Windows guest:
/// the letter maps through the guest's drive mappings (its registry's MountedDevices)
/// to a device, the device to where it is mounted, and the names resolve without
/// regard to case as NTFS does (the daemon's case_sensitive_path, what virt-cat 'C:\…'
/// uses), so the result has the guest's own spelling.
/// </summary>
internal static class WindowsPath
{
    /// <summary>A drive letter, a colon, then the end or a separator.</summary>
    public static bool IsWindowsPath(string value) =>
        value.Length >= 2 && char.IsAsciiLetter(value[0]) && value[1] == ':' && (value.Length == 2 || value[2] is '\\' or '/');

    /// <summary>
    /// Whether a path value is taken as a Windows path on this disk: always on a disk with
    /// Windows drive letters; elsewhere only with a backslash (C:\x), which is then refused
    /// as NotAWindowsDisk, while C:/x stays the guest path it always was.
    /// </summary>
    public static bool Applies(GuestDisk disk, string value) =>
        IsWindowsPath(value) && (disk.WindowsDrives is not null || value.Contains('\\'));

    /// <summary>Where a device is mounted (its shortest mount point), from a mountpoints answer; null when it is not.</summary>
    public static string? MountPointOf(IEnumerable<KeyValuePair<string, string>> mounts, string device) =>
        mounts.Where(kv => kv.Key == device).Select(kv => kv.Value).OrderBy(m => m.Length).FirstOrDefault();

    /// <summary>The guest path a Windows path stands for; throws an exception naming the problem.</summary>
    public static async Task<string> ToGuestPathAsync(GuestDisk disk, string value, bool literal, CancellationToken ct)
    {
        string letter = char.ToUpperInvariant(value[0]).ToString();
        var drives = disk.WindowsDrives ?? throw new WindowsPathException("NotAWindowsDisk", ErrorCategory.InvalidOperation,
            $"'{value}' is a Windows path, but GuestDisk {disk.Id} was not opened with -Inspect on a Windows guest. Open it with Open-GuestDisk -Inspect, or give a guest path such as /Windows/System32.");
        if (!drives.TryGetValue(letter, out var device))
            throw new WindowsPathException("WindowsDriveNotFound", ErrorCategory.ObjectNotFound,
                $"The Windows guest on GuestDisk {disk.Id} has no drive {letter}: (its drives: {string.Join(", ", drives.Keys.OrderBy(k => k, StringComparer.Ordinal).Select(k => k + ":"))}).");
        var mounts = await disk.Session.MountpointsAsync(ct).ConfigureAwait(false);
        string? mountPoint = MountPointOf(mounts, device);
        if (mountPoint is null)
            throw new WindowsPathException("WindowsDriveNotMounted", ErrorCategory.ObjectNotFound,
                $"Drive {letter}: of the Windows guest is {device}, which is not mounted. Open the disk with Open-GuestDisk -Inspect -PSDrive, which mounts every letter, or mount it with Mount-GuestFs -Device {device} -MountPoint <directory> (an empty directory of a mounted drive).");
        var segments = value.Length > 3 ? value.Substring(3).Split(new[] { '\\', '/' }, StringSplitOptions.RemoveEmptyEntries) : Array.Empty<string>();
        // Names before the first wildcard segment resolve case-insensitively; the rest is kept for the wildcard expansion.
        int plain = literal ? segments.Length : Array.FindIndex(segments, WildcardPattern.ContainsWildcardCharacters);
        if (plain < 0) plain = segments.Length;
        string head = mountPoint;
        foreach (var s in segments.Take(plain)) head = GuestPath.Combine(head, literal ? s : WildcardPattern.Unescape(s));
        if (plain > 0)
        {
            try { head = await disk.Session.CaseSensitivePathAsync(head, ct).ConfigureAwait(false); }
            // A directory on the way does not exist: keep the spelling given, and the call that follows says what is missing.
            catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
        }
        if (plain == segments.Length) return head;
        if (!literal && head != "/") head = WildcardPattern.Escape(head);
        return head.TrimEnd('/') + "/" + string.Join("/", segments.Skip(plain));
    }
}

/// <summary>A Windows path that cannot be mapped; carries the error id and category for the ErrorRecord.</summary>
internal sealed class WindowsPathException : Exception
{
    public WindowsPathException(string errorId, ErrorCategory category, string message) : base(message)
    {
        ErrorId = errorId;
        Category = category;
    }

    public string ErrorId { get; }

    public ErrorCategory Category { get; }
}
