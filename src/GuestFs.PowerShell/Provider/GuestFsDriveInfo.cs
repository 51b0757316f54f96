using System.Collections.Generic;
using System.Management.Automation;

namespace GuestFs.PowerShell.Provider;

/// <summary>
/// A GuestFs drive: a directory of one open guest disk (its session) as a
/// PowerShell drive. Root is always <c>name:/</c> (provider paths are the
/// drive-qualified paths); <see cref="GuestRoot"/> is the guest directory it stands for.
/// </summary>
public sealed class GuestFsDriveInfo : PSDriveInfo
{
    internal GuestFsDriveInfo(string name, ProviderInfo provider, GuestDisk disk, string guestRoot, string? description, PSCredential? credential, bool ownsDisk,
        bool ignoreCase = false)
        : base(name, provider, name + ":/", description ?? "", credential)
    {
        Disk = disk;
        GuestRoot = Engine.Library.GuestPath.Normalize(guestRoot);
        OwnsDisk = ownsDisk;
        IgnoreCase = ignoreCase;
    }

    /// <summary>
    /// True for a Windows drive letter (Open-GuestDisk -Inspect -PSDrive): names resolve without
    /// regard to case, as NTFS does, and items carry the guest's own spelling.
    /// </summary>
    public bool IgnoreCase { get; }

    /// <summary>The session the drive reads and changes.</summary>
    public GuestDisk Disk { get; }

    /// <summary>The guest directory the drive's root stands for ("/" or, for example, "/boot").</summary>
    public string GuestRoot { get; }

    /// <summary>
    /// True when New-PSDrive -ImagePath opened the disk for this drive: removing
    /// the drive then closes the disk. A drive made on an open disk (-Disk, or
    /// Mount-GuestFs -PSDrive) never closes it.
    /// </summary>
    public bool OwnsDisk { get; }
}

/// <summary>The parameters New-PSDrive gains for -PSProvider GuestFs.</summary>
public sealed class GuestFsDriveParameters
{
    /// <summary>The open disk the drive works on (optional when exactly one disk is open).</summary>
    [Parameter]
    public GuestDisk? Disk { get; set; }

    /// <summary>Disk images to open for this drive alone; Remove-PSDrive closes them again.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? ImagePath { get; set; }

    /// <summary>With -ImagePath: open the images for writing (read-only otherwise).</summary>
    [Parameter]
    public SwitchParameter Writable { get; set; }

    /// <summary>With -ImagePath: the filesystem to mount at / (default: the only one found).</summary>
    [Parameter]
    public string? Device { get; set; }
}

/// <summary>The parameters Get-Content gains on a GuestFs drive.</summary>
/// <summary>Get-ChildItem's dynamic parameters on a GuestFs drive.</summary>
public sealed class GuestFsChildItemParameters
{
    /// <summary>Only files (everything that is not a directory).</summary>
    [Parameter]
    [Alias("af")]
    public SwitchParameter File { get; set; }

    /// <summary>Only directories.</summary>
    [Parameter]
    [Alias("ad")]
    public SwitchParameter Directory { get; set; }

    /// <summary>Only hidden items: on Linux, names that start with a dot.</summary>
    [Parameter]
    [Alias("ah", "h")]
    public SwitchParameter Hidden { get; set; }
}

public sealed class GuestFsContentReaderParameters
{
    /// <summary>The whole file as one string (or one byte array with -AsByteStream).</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    /// <summary>Bytes instead of lines.</summary>
    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    /// <summary>Text encoding; without it a byte-order mark decides and UTF-8 is assumed.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(EncodingCompleter))]
    public string? Encoding { get; set; }
}

/// <summary>The parameters Set-Content and Add-Content gain on a GuestFs drive.</summary>
public sealed class GuestFsContentWriterParameters
{
    /// <summary>Do not add a newline after each value.</summary>
    [Parameter]
    public SwitchParameter NoNewline { get; set; }

    /// <summary>Values are bytes, written as they are.</summary>
    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    /// <summary>Text encoding (UTF-8 without a byte-order mark by default).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(EncodingCompleter))]
    public string? Encoding { get; set; }
}

/// <summary>Drive bookkeeping the cmdlets share with the provider.</summary>
internal static class GuestFsDrives
{
    /// <summary>
    /// Removes the GuestFs drives this session state can see whose disk is
    /// <paramref name="disk"/> (after Close-GuestDisk), first leaving such a
    /// drive if it is the current location. Returns the names removed.
    /// </summary>
    public static List<string> RemoveDrivesOf(SessionState state, GuestDisk disk)
    {
        var removed = new List<string>();
        System.Collections.ObjectModel.Collection<PSDriveInfo> drives;
        try { drives = state.Drive.GetAllForProvider(GuestFsProvider.ProviderName); }
        catch (ProviderNotFoundException) { return removed; }
        foreach (var drive in drives)
        {
            if (drive is not GuestFsDriveInfo g || g.Disk != disk) continue;
            if (state.Path.CurrentLocation.Drive == g)
                state.Path.SetLocation(WildcardPattern.Escape(state.Path.CurrentFileSystemLocation.Path));
            state.Drive.Remove(g.Name, true, null);
            removed.Add(g.Name);
        }
        return removed;
    }
}
