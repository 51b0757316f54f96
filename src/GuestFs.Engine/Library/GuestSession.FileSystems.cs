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
    /// are included with their type so callers can filter.
    /// </summary>
    public async Task<GuestFileSystemInfo[]> GetFileSystemsAsync(CancellationToken cancellationToken = default)
    {
        var list = await ListFilesystemsAsync(cancellationToken).ConfigureAwait(false);
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
