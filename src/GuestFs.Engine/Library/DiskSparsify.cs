using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Library;

/// <summary>What a sparsify pass did to one filesystem, swap area or volume group.</summary>
public sealed record SparsifyAction(string Target, string Action, string? Detail = null);

/// <summary>
/// Frees the unused space of a disk image, as virt-sparsify does: every mountable
/// filesystem is trimmed (mounted with discard, fstrim), Linux swap is discarded
/// keeping its first page (label, UUID, version), and the free space of each
/// volume group is discarded through a temporary LV. The drive must be attached
/// with <see cref="DriveOptions.Discard"/> so the trims reach the image file;
/// on a qcow2 overlay they become zero clusters, which the copying mode's
/// qemu-img convert then leaves out.
/// </summary>
public static class DiskSparsify
{
    /// <summary>
    /// Whether an image is in use: a qemu has it open for writing (its lock bytes say so; for a
    /// qcow2, qemu-img info without -U fails too), or, <paramref name="forWriting"/>, a qemu reads
    /// it and refuses writers.
    /// </summary>
    public static async Task<bool> IsInUseAsync(string path, CancellationToken ct, bool forWriting = false)
    {
        if (QemuLockHeld(path, forWriting)) return true;
        string qemuImg = ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
        var r = await ExternalCommand.RunAsync(qemuImg, new[] { "info", "--output", "json", Path.GetFullPath(path) }, ct, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        return !r.Success && r.StandardError.Contains("lock", StringComparison.OrdinalIgnoreCase);
    }

    // qemu's file driver marks each permission a user holds with a shared OFD lock on byte
    // 100 + bit, and each permission it refuses to share on byte 200 + bit (bit 0 consistent
    // read, bit 1 write). qemu-img info asks for neither on a raw image, so it does not see a
    // writer; these bytes do: a lock on 101 is someone writing, on 201 someone who refuses writers.
    private static bool QemuLockHeld(string path, bool forWriting)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            int fd = (int)f.SafeFileHandle.DangerousGetHandle();
            foreach (long b in forWriting ? new long[] { 101, 201 } : new long[] { 101 })
            {
                var lk = new Launch.NativeMethods.Flock { Type = Launch.NativeMethods.F_WRLCK, Whence = 0, Start = b, Len = 1, Pid = 0 };
                if (Launch.NativeMethods.Fcntl(fd, Launch.NativeMethods.F_OFD_GETLK, ref lk) == 0 && lk.Type != Launch.NativeMethods.F_UNLCK) return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return false;
    }

    /// <summary>
    /// Runs the trims on every filesystem, swap and volume group of the session's
    /// disks; <paramref name="filesystems"/> is list_filesystems' answer if the caller has it.
    /// </summary>
    /// <param name="zeroWhenNoTrim">
    /// For the copying mode: a filesystem that cannot trim gets its free space filled with
    /// zeros instead (zero_free_space, as virt-sparsify's copying mode does for every
    /// filesystem), which qemu-img convert then leaves out. In place that would allocate
    /// the free space, so there such a filesystem is only reported.
    /// </param>
    public static async Task<IReadOnlyList<SparsifyAction>> TrimAsync(GuestSession s, IReadOnlyList<KeyValuePair<string, string>>? filesystems,
        Action<string>? stage, CancellationToken ct, bool zeroWhenNoTrim = false)
    {
        var done = new List<SparsifyAction>();
        var fss = filesystems ?? await s.ListFilesystemsAsync(ct).ConfigureAwait(false);
        foreach (var fs in fss.Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            bool mounted;
            try { await s.MountOptionsAsync("discard", fs, "/", ct).ConfigureAwait(false); mounted = true; }
            catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { mounted = false; }
            if (mounted)
            {
                try
                {
                    stage?.Invoke($"trimming {fs}");
                    await s.FstrimAsync("/", cancellationToken: ct).ConfigureAwait(false);
                    done.Add(new SparsifyAction(fs, "trimmed"));
                }
                catch (GuestFsException e) when (e.ErrnoName == "ENOTSUP")
                {
                    if (zeroWhenNoTrim)
                    {
                        stage?.Invoke($"filling the free space of {fs} with zeros");
                        await s.ZeroFreeSpaceAsync("/", ct).ConfigureAwait(false);
                        done.Add(new SparsifyAction(fs, "zero-filled", "this filesystem does not support trim"));
                    }
                    else done.Add(new SparsifyAction(fs, "skipped", "this filesystem does not support trim"));
                }
                finally { await s.UmountAllAsync(CancellationToken.None).ConfigureAwait(false); }
                continue;
            }
            // Linux swap (4 KiB pages): the signature sits at the end of the first page.
            byte[] sig;
            try { sig = await s.PreadDeviceAsync(fs, 10, 4086, ct).ConfigureAwait(false); }
            catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { sig = Array.Empty<byte>(); }
            if (System.Text.Encoding.ASCII.GetString(sig) == "SWAPSPACE2")
            {
                stage?.Invoke($"clearing swap {fs}");
                var header = await s.PreadDeviceAsync(fs, 4096, 0, ct).ConfigureAwait(false);
                await s.BlkdiscardAsync(fs, ct).ConfigureAwait(false);
                int n = await s.PwriteDeviceAsync(fs, header, 0, CancellationToken.None).ConfigureAwait(false);
                if (n != header.Length)
                    throw new IOException($"short write restoring the swap header of {fs} ({n} of {header.Length} bytes)");
                done.Add(new SparsifyAction(fs, "swap cleared", "header (label, UUID) kept"));
            }
            else
            {
                done.Add(new SparsifyAction(fs, "skipped", "not mountable"));
            }
        }
        var vgs = await s.VgsAsync(ct).ConfigureAwait(false);
        foreach (var vg in vgs.OrderBy(v => v, StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            string lv = "gfsfree" + Guid.NewGuid().ToString("N").Substring(0, 8);
            bool created;
            try { await s.LvcreateFreeAsync(lv, vg, 100, ct).ConfigureAwait(false); created = true; }
            catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { created = false; }   // no free extents
            if (!created) { done.Add(new SparsifyAction(vg, "skipped", "no free space in the volume group")); continue; }
            stage?.Invoke($"discarding free space of volume group {vg}");
            string dev = $"/dev/{vg}/{lv}";
            try { await s.BlkdiscardAsync(dev, ct).ConfigureAwait(false); await s.SyncAsync(ct).ConfigureAwait(false); }
            finally { await s.LvremoveAsync(dev, CancellationToken.None).ConfigureAwait(false); }
            done.Add(new SparsifyAction(vg, "free space discarded"));
        }
        await s.SyncAsync(ct).ConfigureAwait(false);
        return done;
    }

    /// <summary>
    /// Creates the qcow2 overlay the copying mode works on (backed by the source,
    /// which is never written). Its clusters are 4 KiB, a filesystem block: qcow2
    /// turns a discard into zero clusters only for whole clusters, so with the default
    /// 64 KiB every free extent that does not start and end on a 64 KiB boundary kept
    /// the deleted data of its partial first and last cluster in the copy.
    /// </summary>
    public static async Task CreateOverlayAsync(string source, string sourceFormat, string overlay, CancellationToken ct)
    {
        string qemuImg = ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
        var r = await ExternalCommand.RunAsync(qemuImg, new[]
        {
            "create", "-q", "-f", "qcow2", "-o", $"backing_file={source.Replace(",", ",,")},backing_fmt={sourceFormat},cluster_size=4096", overlay,
        }, ct, TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        if (!r.Success) throw new IOException($"qemu-img could not create the overlay for '{source}': {r.Combined}");
    }

    /// <summary>qemu-img convert of the trimmed overlay into <paramref name="destination"/> (zero clusters left out).</summary>
    public static async Task ConvertAsync(string overlay, string destination, string format, bool compress, CancellationToken ct)
    {
        string qemuImg = ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
        var args = new List<string> { "convert", "-f", "qcow2", "-O", format };
        if (compress) args.Add("-c");
        args.Add(overlay); args.Add(destination);
        var r = await ExternalCommand.RunAsync(qemuImg, args, ct, TimeSpan.FromHours(12)).ConfigureAwait(false);
        if (!r.Success) throw new IOException($"qemu-img convert into '{destination}' failed: {r.Combined}");
    }
}
