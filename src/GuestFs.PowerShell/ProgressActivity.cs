namespace GuestFs.PowerShell;

/// <summary>
/// Progress activity ids, one per kind of work, so that two kinds of work never
/// overwrite each other's bar (a copy inside a drive launch, a daemon call under
/// a fleet run …). Every WriteProgress in the module takes its id from here.
/// </summary>
internal static class ProgressActivity
{
    /// <summary>Open-GuestDisk: starting the appliance.</summary>
    public const int OpenDisk = 0x6e5;
    /// <summary>Copy-GuestItem: the whole copy.</summary>
    public const int Copy = 0x6e6;
    /// <summary>Copy-GuestItem: the file being copied (child of <see cref="Copy"/>).</summary>
    public const int CopyFile = 0x6e7;
    /// <summary>New-GuestDiskImage: creating, partitioning, formatting.</summary>
    public const int NewDiskImage = 0x6e8;
    /// <summary>New-PSDrive -ImagePath: the provider opening images for a drive.</summary>
    public const int DriveOpen = 0x6e9;
    /// <summary>The daemon's own progress messages for long calls.</summary>
    public const int Daemon = 0x6f0;
    /// <summary>Fleet runs (-Path over many images).</summary>
    public const int Fleet = 0x6f1;
    /// <summary>A call that is taking a while (elapsed time).</summary>
    public const int SlowCall = 0x6f2;

    /// <summary>Per-image bars under Fleet (Reset-GuestImage): FleetItem + n for the n-th image.</summary>
    public const int FleetItem = 0x700;
}
