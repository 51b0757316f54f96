namespace GuestFs.Engine.Library;

/// <summary>A filesystem found on the session's disks.</summary>
public sealed class GuestFileSystemInfo
{
    /// <summary>Device (or mountable, e.g. a btrfs subvolume) as the daemon names it.</summary>
    public string Device { get; init; } = "";

    /// <summary>Filesystem type (ext4, xfs, vfat, swap, unknown …).</summary>
    public string Type { get; init; } = "";

    public string Label { get; init; } = "";

    public string Uuid { get; init; } = "";

    /// <summary>Size of the underlying device in bytes (0 when not a block device).</summary>
    public long Size { get; init; }

    public override string ToString() => Device;
}

/// <summary>A filesystem mounted inside the appliance.</summary>
public sealed class GuestMountInfo
{
    public string Device { get; init; } = "";

    /// <summary>Where it is mounted, as guest paths see it ("/" is the guest root).</summary>
    public string MountPoint { get; init; } = "";

    public override string ToString() => $"{Device} on {MountPoint}";
}
