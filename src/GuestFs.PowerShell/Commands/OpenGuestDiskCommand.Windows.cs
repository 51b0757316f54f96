using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;

namespace GuestFs.PowerShell.Commands;

// Open-GuestDisk -Inspect on a Windows guest: keep its drive letters, so that
// C:\… paths given to the GuestFs cmdlets map to guest paths (WindowsPath), and with
// -PSDrive make each letter a GuestFs drive of its own (C:, D: …): the letters are then
// mounted on /C, /D … (GuestSession.MountWindowsLettersAsync) instead of C: on /.
public sealed partial class OpenGuestDiskCommand
{
    /// <summary>
    /// With -Inspect on a Windows guest: every drive letter is mounted on a directory of its own
    /// (/C, /E …, instead of C: on /) and becomes a GuestFs drive of that name (with
    /// -PSDrivePrefix in front), whose names resolve without regard to case as NTFS does.
    /// </summary>
    [Parameter]
    public SwitchParameter PSDrive { get; set; }

    /// <summary>Put in front of each drive letter -PSDrive makes (for several disks open at once: vm1C:, vm2C: …).</summary>
    [Parameter]
    [ValidatePattern("^[A-Za-z0-9_]*$")]
    public string PSDrivePrefix { get; set; } = "";

    /// <summary>
    /// -PSDrive: the drives for the Windows letters. Runs after the disk is registered; a
    /// letter whose partition is not mounted, or a name taken by another drive, is reported
    /// and the others are made.
    /// </summary>
    private void NewLetterDrives(GuestDisk disk)
    {
        if (!PSDrive.IsPresent) return;
        if (disk.WindowsDrives is null)
        {
            WriteWarning($"-PSDrive makes drives for the drive letters of a Windows guest opened with -Inspect; GuestDisk {disk.Id} has none. Use New-PSDrive -PSProvider GuestFs -Root / -Disk {disk.Id} -Name <name>, or Mount-GuestFs -PSDrive.");
            return;
        }
        IReadOnlyList<KeyValuePair<string, string>> mounts;
        try { mounts = Run(ct => disk.Session.MountpointsAsync(ct), disk.Session); }
        catch (Exception e) when (e is not PipelineStoppedException) { WriteError(ToErrorRecord(e, "NewDriveFailed", disk.Id, reading: true)); return; }
        var provider = SessionState.Provider.GetOne(Provider.GuestFsProvider.ProviderName);
        foreach (var (letter, device) in disk.WindowsDrives.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            string name = PSDrivePrefix + letter;
            string? mountPoint = WindowsPath.MountPointOf(mounts, device);
            if (mountPoint is null)
            {
                WriteWarning($"Drive {letter}: of the Windows guest is {device}, which could not be mounted (see the warning before), so there is no drive {name}: for it.");
                continue;
            }
            try
            {
                var drive = new Provider.GuestFsDriveInfo(name, provider, disk, mountPoint,
                    $"Windows drive {letter}: ({device} on {mountPoint}, GuestDisk {disk.Id})", null, ownsDisk: false, ignoreCase: true);
                SessionState.Drive.New(drive, "global");
                WriteVerbose($"drive {name}: is Windows drive {letter}: ({device} on {mountPoint})");
            }
            catch (Exception e) when (e is SessionStateException or ArgumentException or ProviderInvocationException or PSInvalidOperationException)
            {
                WriteError(new ErrorRecord(new InvalidOperationException(
                    $"Drive {name}: could not be made for Windows drive {letter}: ({e.Message}). Give -PSDrivePrefix so the names differ from the drives there are (Get-PSDrive).", e),
                    "NewDriveFailed", ErrorCategory.ResourceExists, name));
            }
        }
    }

    private void RememberWindowsDrives(GuestDisk disk, string root)
    {
        try
        {
            var letters = Run(async ct =>
            {
                if (await disk.Session.InspectGetTypeAsync(root, ct).ConfigureAwait(false) != "windows") return null;
                var map = await disk.Session.InspectGetDriveMappingsAsync(root, ct).ConfigureAwait(false);
                return map.ToDictionary(kv => kv.Key.ToUpperInvariant(), kv => kv.Value, StringComparer.OrdinalIgnoreCase);
            }, disk.Session);
            if (letters is null) return;
            disk.WindowsDrives = letters;
            disk.WindowsRoot = root;
            foreach (var kv in letters.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                WriteVerbose($"Windows drive {kv.Key}: is {kv.Value}");
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteWarning($"The drive letters of the Windows system {root} could not be read, so C:\\ paths will not work on this disk: {e.Message}");
        }
    }
}
