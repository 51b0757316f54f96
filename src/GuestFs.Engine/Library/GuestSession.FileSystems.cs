using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Session;

public sealed partial class GuestSession
{
    /// <summary>
    /// Every filesystem the daemon can see (list_filesystems) with its label,
    /// UUID and size. Entries without a mountable filesystem ("unknown", swap)
    /// are included with their type so callers can filter. With
    /// <paramref name="includeEncrypted"/>, partitions and whole disks that
    /// list_filesystems leaves out because they hold an encrypted volume
    /// (crypto_LUKS, BitLocker) are added too, so that callers can see what
    /// there is to unlock.
    /// </summary>
    public async Task<GuestFileSystemInfo[]> GetFileSystemsAsync(CancellationToken cancellationToken = default, bool includeEncrypted = false)
    {
        // list_filesystems takes tens of seconds on a big disk under TCG: reuse the last
        // answer while no call that could change disks, filesystems or mounts has run.
        long generation = MountGeneration;
        if (_fileSystemsCache is { } c && c.Generation == generation && c.IncludeEncrypted == includeEncrypted)
        {
            Say(MessageLevel.Verbose, "filesystems: nothing changed since the last listing, reusing it");
            return (GuestFileSystemInfo[])c.List.Clone();
        }
        var fresh = await ListFileSystemsUncachedAsync(includeEncrypted, cancellationToken).ConfigureAwait(false);
        _fileSystemsCache = (generation, includeEncrypted, fresh);
        return (GuestFileSystemInfo[])fresh.Clone();
    }

    private (long Generation, bool IncludeEncrypted, GuestFileSystemInfo[] List)? _fileSystemsCache;

    private async Task<GuestFileSystemInfo[]> ListFileSystemsUncachedAsync(bool includeEncrypted, CancellationToken cancellationToken)
    {
        var list = (await ListFilesystemsAsync(cancellationToken).ConfigureAwait(false)).ToList();
        if (includeEncrypted)
        {
            var listed = new HashSet<string>(list.Select(kv => kv.Key), StringComparer.Ordinal);
            list.AddRange((await ListEncryptedDevicesAsync(cancellationToken).ConfigureAwait(false)).Where(kv => !listed.Contains(kv.Key)));
        }
        var result = new List<GuestFileSystemInfo>(list.Count);
        foreach (var (device, type) in list)
        {
            string label = "", uuid = "";
            long size = 0;
            if (type != "unknown")
            {
                try { label = await VfsLabelAsync(device, cancellationToken).ConfigureAwait(false); } catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
                try { uuid = await VfsUuidAsync(device, cancellationToken).ConfigureAwait(false); } catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
            }
            if (device.StartsWith("/dev/", StringComparison.Ordinal))
            {
                try { size = await BlockdevGetsize64Async(device, cancellationToken).ConfigureAwait(false); } catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
            }
            result.Add(new GuestFileSystemInfo { Device = device, Type = type, Label = label, Uuid = uuid, Size = size });
        }
        return result.ToArray();
    }

    /// <summary>What is mounted where inside the appliance (mountpoints), sorted by mount point.</summary>
    public async Task<GuestMountInfo[]> GetMountsAsync(CancellationToken cancellationToken = default)
    {
        var mps = await MountpointsAsync(cancellationToken).ConfigureAwait(false);
        return mps.Select(kv => new GuestMountInfo { Device = kv.Key, MountPoint = kv.Value })
                  .OrderBy(m => m.MountPoint, StringComparer.Ordinal).ToArray();
    }
}
