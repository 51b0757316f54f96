using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Library
{
    /// <summary>
    /// One filesystem's space and inodes, as virt-df reports them (statvfs of
    /// the filesystem mounted read-only). Sizes are in bytes; the percentages
    /// are virt-df's (100 − 100·free/total, one decimal), so Used + Available
    /// can be less than Size (space reserved for root).
    /// </summary>
    public sealed class GuestDiskUsage
    {
        /// <summary>virt-df's VirtualMachine column: the image's file name (empty for a session).</summary>
        public string Name { get; init; } = "";
        /// <summary>The canonical device name (/dev/sda1, /dev/VG/LV, btrfsvol:…).</summary>
        public string FileSystem { get; init; } = "";
        public string Type { get; init; } = "";
        public long Size { get; init; }
        public long Used { get; init; }
        public long Available { get; init; }
        public double UsePercent { get; init; }
        public long Inodes { get; init; }
        public long InodesUsed { get; init; }
        public long InodesFree { get; init; }
        public double InodesUsePercent { get; init; }
        /// <summary>The filesystem block size statvfs reports (the unit of virt-df's sums).</summary>
        public long BlockSize { get; init; }

        /// <summary>virt-df's figures from a statvfs result.</summary>
        public static GuestDiskUsage FromStatvfs(string name, string device, string type, GuestStatvfs st) => new()
        {
            Name = name, FileSystem = device, Type = type, BlockSize = st.Bsize,
            Size = st.Blocks * st.Bsize,
            Used = (st.Blocks - st.Bfree) * st.Bsize,
            Available = st.Bavail * st.Bsize,
            UsePercent = Percent(st.Bfree, st.Blocks),
            Inodes = st.Files,
            InodesUsed = st.Files - st.Ffree,
            InodesFree = st.Ffree,
            InodesUsePercent = Percent(st.Ffree, st.Files),
        };

        /// <summary>virt-df keeps the percentage in a float and prints it with one decimal; the same here.</summary>
        internal static double Percent(long free, long total)
        {
            float p = total != 0 ? (float)(100.0 - 100.0 * free / total) : 0f;
            return double.Parse(((double)p).ToString("F1", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        }
    }
}

namespace GuestFs.Engine.Session
{
    using GuestFs.Engine.Library;

    public sealed partial class GuestSession
    {
        /// <summary>
        /// virt-df on this session: for every filesystem list_filesystems
        /// reports (not swap, not unknown), statvfs while it is mounted
        /// read-only. A filesystem already mounted is measured where it is;
        /// the others are mounted read-only on / one at a time and unmounted
        /// again, which needs / to be free (otherwise <paramref name="skipped"/>
        /// is told which, why, and whether the caller should warn). Filesystems that do not mount are left out,
        /// as virt-df does.
        /// </summary>
        public async IAsyncEnumerable<GuestDiskUsage> GetDiskUsageAsync(string name, Action<string, string, bool>? skipped = null,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var fses = await ListFilesystemsAsync(cancellationToken).ConfigureAwait(false);
            var mounted = (await MountpointsAsync(cancellationToken).ConfigureAwait(false)).ToList();
            bool rootBusy = mounted.Any(m => m.Value == "/");
            foreach (var (device, type) in fses)
            {
                if (type is "" or "swap" or "unknown") continue;
                string canonical = await LibraryCalls.CanonicalDeviceNameCoreAsync(this, device, cancellationToken).ConfigureAwait(false);
                GuestStatvfs? st = null;
                var here = mounted.FirstOrDefault(m => m.Key == device);
                if (here.Value is not null)
                {
                    st = await StatvfsAsync(here.Value, cancellationToken).ConfigureAwait(false);
                }
                else if (rootBusy)
                {
                    skipped?.Invoke(canonical, "it is not mounted and / is in use (Dismount-GuestFs first, or mount it to measure it where it is)", true);
                    continue;
                }
                else
                {
                    try
                    {
                        await MountRoAsync(device, "/", cancellationToken).ConfigureAwait(false);
                        try { st = await StatvfsAsync("/", cancellationToken).ConfigureAwait(false); }
                        finally { await UmountAllAsync(cancellationToken).ConfigureAwait(false); }
                    }
                    catch (GuestFsException e) when (e is not GuestFsProtocolException)
                    {
                        skipped?.Invoke(canonical, e.Message, false);
                        continue;
                    }
                }
                yield return GuestDiskUsage.FromStatvfs(name, canonical, type, st);
            }
        }
    }
}
