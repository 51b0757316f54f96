using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

// Open-GuestDisk's steps after the launch: unlocking encrypted devices (-Passphrase)
// and inspecting and mounting the operating system (-Inspect, -Root), as guestfish
// --keys-from-stdin -i does. Kept apart from the launch code on purpose.
public sealed partial class OpenGuestDiskCommand
{
    /// <summary>Find the installed operating system and mount its filesystems where it mounts them (guestfish -i).</summary>
    [Parameter]
    public SwitchParameter Inspect { get; set; }

    /// <summary>With several operating systems on the disks, the root filesystem of the one to mount (implies -Inspect).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Root { get; set; }

    /// <summary>Passphrase tried on every LUKS/BitLocker device after launch.</summary>
    [Parameter]
    public SecureString? Passphrase { get; set; }

    private void AfterLaunch(GuestDisk disk)
    {
        if (Passphrase is not null) Unlock(disk, Passphrase);
        if (Inspect.IsPresent || Root is not null) InspectAndMount(disk);
    }

    private void Unlock(GuestDisk disk, SecureString passphrase)
    {
        GuestUnlockResult[] results;
        try
        {
            results = Run(ct => disk.Session.UnlockEncryptedDevicesAsync(passphrase, ct), disk.Session);
        }
        catch (Exception e)
        {
            Fail(disk, e, "UnlockFailed", null);
            return;
        }
        if (results.Length == 0)
            WriteWarning("-Passphrase was given, but no encrypted (LUKS or BitLocker) device was found on the disks.");
        foreach (var r in results)
        {
            if (r.Unlocked) WriteVerbose($"unlocked {r.Device} as {r.MapperDevice}");
            else
                WriteError(new ErrorRecord(new InvalidOperationException(
                    $"The encrypted device {r.Device} could not be unlocked with the passphrase given: {r.Error}"),
                    "UnlockFailed", ErrorCategory.AuthenticationError, r.Device));
        }
    }

    private void InspectAndMount(GuestDisk disk)
    {
        GuestMountResult mounted;
        try
        {
            // The engine's one "find the guest and mount it" policy; -Inspect insists on an operating system.
            // -PSDrive on a Windows system: every letter on a directory of its own (/C, /E …), so each can be a drive.
            mounted = Run(ct => disk.Session.MountGuestAsync(Root, device: null, disk.ReadOnly, singleFileSystemWithoutOs: false, ct,
                windowsLetters: PSDrive.IsPresent), disk.Session);
        }
        catch (GuestMountPolicyException e)
        {
            Fail(disk, e, e.Reason, Root);
            return;
        }
        catch (Exception e)
        {
            Fail(disk, e, "InspectMountFailed", Root);
            return;
        }
        foreach (var m in mounted.Mounts.Where(m => m.Mounted))
            WriteVerbose($"mounted {m.Device} on {m.MountPoint}{(m.ReadOnly ? " (read-only)" : "")}");
        RememberWindowsDrives(disk, mounted.Root!);
    }

    private void Fail(GuestDisk disk, Exception e, string errorId, object? target)
    {
        try { disk.Session.Dispose(); } catch (Exception) { }
        target ??= _paths.Count == 1 ? _paths[0] : _paths.ToArray();
        var rec = errorId switch
        {
            "NoOperatingSystem" or "RootNotFound" => new ErrorRecord(e, errorId, ErrorCategory.ObjectNotFound, target),
            "AmbiguousOperatingSystem" => new ErrorRecord(e, errorId, ErrorCategory.InvalidArgument, target),
            _ => ToErrorRecord(e, errorId, target),
        };
        ThrowTerminatingError(rec);
    }
}
