using System;
using System.Collections.Generic;
using System.Threading;

namespace GuestFs.Engine.Session;

/// <summary>
/// What may have changed since a result was computed. Every daemon call is
/// counted before it is sent: a call known to only read changes nothing; a
/// mount or unmount changes the mounts; anything else (any write, mkfs, LVM,
/// unlocking …) may change the disks' content. The per-session caches of
/// list_filesystems and inspect_os compare these counters, so a result is
/// reused only while nothing that could change it has run.
/// </summary>
public sealed partial class GuestSession
{
    private long _contentChanges, _mountChanges;

    /// <summary>Bumped by every call that may change the disks or filesystems.</summary>
    public long ContentGeneration => Interlocked.Read(ref _contentChanges);

    /// <summary>Bumped by every call that may change the disks, the filesystems or the mounts.</summary>
    public long MountGeneration => Interlocked.Read(ref _mountChanges) + ContentGeneration;

    private static readonly HashSet<string> s_readOnlyCalls = new(StringComparer.Ordinal)
    {
        "list_filesystems", "list_devices", "list_partitions", "list_md_devices", "list_dm_devices", "list_ldm_volumes", "list_ldm_partitions",
        "lvs", "lvs_full", "vgs", "vgs_full", "pvs", "pvs_full", "lvuuid", "vguuid", "pvuuid", "vglvuuids", "vgpvuuids", "lv_canonical",
        "vfs_type", "vfs_label", "vfs_uuid", "blkid", "blockdev_getsize64", "blockdev_getss", "blockdev_getbsz", "blockdev_getro", "blockdev_getsz",
        "part_list", "part_get_parttype", "part_to_dev", "part_to_partnum", "part_get_bootable", "part_get_mbr_id", "part_get_gpt_type", "part_get_name",
        "mountpoints", "mounts", "statvfs", "lstatns", "statns", "internal_lstatnslist", "internal_readlinklist", "internal_lxattrlist",
        "readlink", "realpath", "case_sensitive_path", "ls0", "ll", "find0", "read_file", "pread", "pread_device", "download", "download_offset",
        "grep", "egrep", "fgrep", "grepi", "egrepi", "fgrepi", "zgrep", "zegrep", "zfgrep", "zgrepi", "zegrepi", "zfgrepi",
        "head", "head_n", "tail", "tail_n", "checksum", "checksum_device", "checksums_out", "file", "filesize", "exists",
        "is_file", "is_dir", "is_symlink", "is_blockdev", "is_chardev", "is_fifo", "is_socket", "is_lv", "is_whole_device", "is_zero", "is_zero_device",
        "lgetxattrs", "getxattrs", "lgetxattr", "getxattr", "internal_feature_available", "available", "available_all_groups", "version",
        "list_9p", "cap_get_file", "acl_get_file", "selinux_relabel_needed", "luks_uuid", "cryptsetup_is_luks",
        "ntfs_3g_probe", "btrfs_subvolume_list", "btrfs_subvolume_get_default", "btrfs_filesystem_show", "xfs_info", "tune2fs_l", "get_e2label", "get_e2uuid",
        "sleep", "ping_daemon", "internal_exit",
    };

    private static readonly HashSet<string> s_mountCalls = new(StringComparer.Ordinal)
    {
        "mount", "mount_ro", "mount_options", "mount_vfs", "mount_loop", "umount", "umount_all", "mkmountpoint", "rmmountpoint",
        // inspect_os mounts and unmounts while it looks, but reads only.
        "inspect_os",
    };

    /// <summary>Counts one call by what it may change (see the class comment).</summary>
    private void NoteCall(string procedure)
    {
        if (s_readOnlyCalls.Contains(procedure) || procedure.StartsWith("inspect_get_", StringComparison.Ordinal) ||
            procedure.StartsWith("inspect_is_", StringComparison.Ordinal) || procedure.StartsWith("inspect_list_", StringComparison.Ordinal)) return;
        if (s_mountCalls.Contains(procedure)) Interlocked.Increment(ref _mountChanges);
        else Interlocked.Increment(ref _contentChanges);
    }
}
