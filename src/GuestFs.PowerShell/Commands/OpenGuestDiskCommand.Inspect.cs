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
        List<(string Root, string Product)> found;
        try
        {
            found = Run(async ct =>
            {
                var roots = await disk.Session.InspectOperatingSystemsAsync(ct).ConfigureAwait(false);
                var list = new List<(string, string)>();
                foreach (var r in roots.OrderBy(r => r, StringComparer.Ordinal))
                    list.Add((r, await disk.Session.InspectGetProductNameAsync(r, ct).ConfigureAwait(false)));
                return list;
            }, disk.Session);
        }
        catch (Exception e)
        {
            Fail(disk, e, "InspectionFailed", null);
            return;
        }
        var (root, errorId, message) = ChooseRoot(found, Root);
        if (root is null)
        {
            Fail(disk, errorId == "AmbiguousOperatingSystem" ? new ArgumentException(message) : new InvalidOperationException(message),
                errorId!, Root);
            return;
        }
        GuestInspectedMount[] mounts;
        try
        {
            mounts = Run(ct => disk.Session.MountOperatingSystemAsync(root, disk.ReadOnly, ct), disk.Session);
        }
        catch (Exception e)
        {
            Fail(disk, e, "InspectMountFailed", root);
            return;
        }
        foreach (var m in mounts.Where(m => m.Mounted))
            WriteVerbose($"mounted {m.Device} on {m.MountPoint}{(m.ReadOnly ? " (read-only)" : "")}");
        RememberWindowsDrives(disk, root);
    }

    /// <summary>
    /// Which root -Inspect mounts: the only one found, or the one -Root names.
    /// Returns the error id and message instead when there is none, several without -Root, or -Root is not one of them.
    /// </summary>
    internal static (string? Root, string? ErrorId, string? Message) ChooseRoot(IReadOnlyList<(string Root, string Product)> found, string? requested)
    {
        string Listing() => string.Join(", ", found.Select(f => $"{f.Root} ({f.Product})"));
        if (found.Count == 0)
            return (null, "NoOperatingSystem",
                "-Inspect found no operating system on the disks. Open them without -Inspect and mount filesystems with Mount-GuestFs " +
                "(Get-GuestFileSystem lists them); if the disks are encrypted, add -Passphrase.");
        if (requested is not null)
        {
            var match = found.FirstOrDefault(f => string.Equals(f.Root, requested, StringComparison.Ordinal));
            if (match.Root is null)
                return (null, "RootNotFound", $"-Root {requested} is not the root of an operating system on these disks; inspection found: {Listing()}.");
            return (match.Root, null, null);
        }
        if (found.Count > 1)
            return (null, "AmbiguousOperatingSystem",
                $"-Inspect found {found.Count} operating systems: {Listing()}. Say which one to mount with -Root, for example -Root {found[0].Root}.");
        return (found[0].Root, null, null);
    }

    private void Fail(GuestDisk disk, Exception e, string errorId, object? target)
    {
        try { disk.Session.Dispose(); } catch (Exception) { }
        target ??= _paths.Count == 1 ? _paths[0] : _paths.ToArray();
        var rec = errorId is "NoOperatingSystem" or "RootNotFound"
            ? new ErrorRecord(e, errorId, ErrorCategory.ObjectNotFound, target)
            : ToErrorRecord(e, errorId, target);
        ThrowTerminatingError(rec);
    }
}
