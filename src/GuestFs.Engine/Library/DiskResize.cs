using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Library;

/// <summary>One partition of the source disk and what a resize does with it.</summary>
public sealed record ResizePartition
{
    /// <summary>Source device, /dev/sdaN.</summary>
    public required string Name { get; init; }
    public required int Number { get; init; }
    /// <summary>Byte offset and size on the source disk.</summary>
    public required long Start { get; init; }
    public required long Size { get; init; }
    /// <summary>Filesystem type from vfs_type (<c>LVM2_member</c> for a PV), or <c>unknown</c>.</summary>
    public required string Content { get; init; }
    public bool Bootable { get; init; }
    /// <summary>MBR type byte (MBR disks).</summary>
    public int? MbrId { get; init; }
    /// <summary>GPT type GUID, partition name, GUID and attributes (GPT disks).</summary>
    public string? GptType { get; init; }
    public string? GptName { get; init; }
    public string? GptGuid { get; init; }
    public long? GptAttributes { get; init; }

    /// <summary><c>copy</c> (same size) or <c>resize</c>.</summary>
    public string Operation { get; init; } = "copy";
    /// <summary>Size on the destination in bytes (equals <see cref="Size"/> for a copy).</summary>
    public long NewSize { get; init; }
    /// <summary>Partition number and first/last sector on the destination.</summary>
    public int TargetNumber { get; init; }
    public long TargetStartSector { get; init; }
    public long TargetEndSector { get; init; }
    /// <summary>How the content is grown (resize2fs, xfs_growfs, ntfsresize, btrfs, pvresize), or null.</summary>
    public string? ExpandMethod { get; init; }
}

/// <summary>A logical volume grown to fill its volume group (-LVExpand).</summary>
public sealed record ResizeLogicalVolume(string Name, string Content, string ExpandMethod);

/// <summary>
/// What a resize will do, as virt-resize prints it before copying: the layout of the
/// destination computed from the source's partitions and the destination size.
/// </summary>
public sealed record ResizePlan
{
    public required string Source { get; init; }
    public required string Destination { get; init; }
    public required long SourceSize { get; init; }
    public required long DestinationSize { get; init; }
    /// <summary><c>msdos</c> or <c>gpt</c> (part_get_parttype).</summary>
    public required string PartitionTableType { get; init; }
    public string? DiskGuid { get; init; }
    public required IReadOnlyList<ResizePartition> Partitions { get; init; }
    public IReadOnlyList<ResizeLogicalVolume> LogicalVolumes { get; init; } = Array.Empty<ResizeLogicalVolume>();
    /// <summary>Bytes left over after the partitions and the partitioning overhead (before -Expand used them).</summary>
    public long Surplus { get; init; }

    /// <summary>The plan as a text table (what -WhatIf prints).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Resize {Source} ({Human(SourceSize)}) into {Destination} ({Human(DestinationSize)}), {PartitionTableType} partition table:");
        sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-12} {1,-14} {2,-8} {3,12} {4,12}  {5}", "Partition", "Content", "Action", "Old size", "New size", "Content growth"));
        foreach (var p in Partitions)
            sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-12} {1,-14} {2,-8} {3,12} {4,12}  {5}",
                p.Name, p.Content, p.Operation, Human(p.Size), Human(p.NewSize), p.ExpandMethod ?? "-"));
        foreach (var lv in LogicalVolumes)
            sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-12} {1,-14} {2,-8} {3,12} {4,12}  {5}", lv.Name, lv.Content, "expand", "", "", lv.ExpandMethod));
        return sb.ToString().TrimEnd();
    }

    internal static string Human(long bytes)
    {
        string[] units = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = bytes; int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return v.ToString(u == 0 ? "0" : "0.0", CultureInfo.InvariantCulture) + units[u];
    }
}

/// <summary>A resize request that cannot be done; <see cref="Reason"/> is a stable id.</summary>
public sealed class DiskResizeException : Exception
{
    public DiskResizeException(string reason, string message, object? target = null) : base(message) { Reason = reason; Target = target; }
    /// <summary>DestinationTooSmall, UnknownPartition, CannotExpandContent, UnsupportedPartitionTable, UnknownLogicalVolume.</summary>
    public string Reason { get; }
    public object? Target { get; }
}

/// <summary>
/// Copies a disk into a new, larger one, growing one partition and what is inside
/// it — the job of virt-resize --expand, with its layout rules: the first
/// partition keeps its start, every partition starts on a 128-sector boundary,
/// and the overhead reserved for partitioning is counted the same way, so both
/// tools give the same partition table for the same input.
/// </summary>
public static class DiskResize
{
    public const long SectorSize = 512;
    public const long Alignment = 128;           // sectors
    private const long MaxBootLoader = 4096 * 512; // bytes copied after the partition table

    /// <summary>The method that grows <paramref name="content"/>, or null when it cannot grow.</summary>
    public static string? ExpandMethodFor(string content) => content switch
    {
        "ext2" or "ext3" or "ext4" => "resize2fs",
        "xfs" => "xfs_growfs",
        "ntfs" => "ntfsresize",
        "btrfs" => "btrfs filesystem resize",
        "LVM2_member" => "pvresize",
        _ => null,
    };

    /// <summary>
    /// Lays out the destination. Pure: the unit tests call it directly.
    /// </summary>
    public static IReadOnlyList<ResizePartition> Layout(IReadOnlyList<ResizePartition> source, long destinationSize, string? expand,
        out long surplus)
    {
        if (source.Count == 0)
            throw new DiskResizeException("NoPartitions", "The source disk has no partitions; there is nothing to resize (copy it with qemu-img convert and grow it with qemu-img resize instead).");
        ResizePartition? grow = null;
        if (expand is not null)
        {
            grow = source.FirstOrDefault(p => p.Name == expand)
                ?? throw new DiskResizeException("UnknownPartition",
                    $"The source disk has no partition '{expand}'; its partitions are {string.Join(", ", source.Select(p => p.Name))}.", expand);
            if (ExpandMethodFor(grow.Content) is null)
                throw new DiskResizeException("CannotExpandContent",
                    $"'{expand}' holds {grow.Content}, which cannot be grown (GuestFs grows ext2/3/4, xfs, ntfs, btrfs and LVM PVs); choose another partition with -Expand.", expand);
        }
        long firstStartSects = source[0].Start / SectorSize;
        long startOverhead = Math.Max(Math.Max(64, MaxBootLoader / 512), firstStartSects);
        long overhead = (startOverhead + Alignment * (source.Count + 1) + 64) * SectorSize;
        long required = source.Sum(p => p.Size);
        surplus = destinationSize - (required + overhead);
        if (surplus < 0)
            throw new DiskResizeException("DestinationTooSmall",
                $"The destination ({ResizePlan.Human(destinationSize)}) is too small for the partitions of the source ({ResizePlan.Human(required)} plus {ResizePlan.Human(overhead)} for partitioning); make -SizeBytes at least {destinationSize - surplus} bytes.", destinationSize);

        var result = new List<ResizePartition>();
        long start = firstStartSects;
        int n = 1;
        foreach (var p in source)
        {
            bool resize = ReferenceEquals(p, grow);
            long newSize = resize ? p.Size + surplus : p.Size;
            long sects = (newSize + SectorSize - 1) / SectorSize;
            long end = start + sects;
            long next = RoundUp(end, Alignment);
            result.Add(p with
            {
                Operation = resize ? "resize" : "copy",
                NewSize = newSize,
                TargetNumber = n,
                TargetStartSector = start,
                TargetEndSector = resize ? next - 1 : end - 1,
                ExpandMethod = resize ? ExpandMethodFor(p.Content) : null,
            });
            start = next;
            n++;
        }
        return result;
    }

    private static long RoundUp(long v, long a) => (v + a - 1) / a * a;

    /// <summary>Reads the source's partitions (source on /dev/sda) and lays out the destination.</summary>
    public static async Task<ResizePlan> PlanAsync(GuestSession s, string sourcePath, string destinationPath, long destinationSize,
        string? expand, IReadOnlyList<string> lvExpand, CancellationToken ct)
    {
        const string dev = "/dev/sda";
        string parttype = await s.PartGetParttypeAsync(dev, ct).ConfigureAwait(false);
        if (parttype is not ("msdos" or "gpt"))
            throw new DiskResizeException("UnsupportedPartitionTable", $"The source has a '{parttype}' partition table; GuestFs resizes MBR (msdos) and GPT disks.", sourcePath);
        long sourceSize = await s.BlockdevGetsize64Async(dev, ct).ConfigureAwait(false);
        var parts = await s.PartListAsync(dev, ct).ConfigureAwait(false);
        var list = new List<ResizePartition>();
        foreach (var gp in parts.OrderBy(p => p.PartNum))
        {
            string name = dev + gp.PartNum.ToString(CultureInfo.InvariantCulture);
            if (parttype == "msdos" && gp.PartNum > 4)
                throw new DiskResizeException("UnsupportedPartitionTable", $"'{name}' is a logical partition; GuestFs resizes MBR disks with primary partitions only.", sourcePath);
            string content;
            try { content = await s.VfsTypeAsync(name, ct).ConfigureAwait(false); } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { content = ""; }
            if (string.IsNullOrEmpty(content)) content = "unknown";
            var p = new ResizePartition
            {
                Name = name, Number = gp.PartNum, Start = gp.PartStart, Size = gp.PartSize, Content = content,
                Bootable = await s.PartGetBootableAsync(dev, gp.PartNum, ct).ConfigureAwait(false),
            };
            if (parttype == "msdos")
            {
                int id = await s.PartGetMbrIdAsync(dev, gp.PartNum, ct).ConfigureAwait(false);
                if (id is 0x05 or 0x0f or 0x85)
                    throw new DiskResizeException("UnsupportedPartitionTable", $"'{name}' is an extended partition; GuestFs resizes MBR disks with primary partitions only.", sourcePath);
                p = p with { MbrId = id };
            }
            else
            {
                p = p with
                {
                    GptType = await s.PartGetGptTypeAsync(dev, gp.PartNum, ct).ConfigureAwait(false),
                    GptGuid = await s.PartGetGptGuidAsync(dev, gp.PartNum, ct).ConfigureAwait(false),
                    GptAttributes = await s.PartGetGptAttributesAsync(dev, gp.PartNum, ct).ConfigureAwait(false),
                };
                try { p = p with { GptName = await s.PartGetNameAsync(dev, gp.PartNum, ct).ConfigureAwait(false) }; } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { }
            }
            list.Add(p);
        }
        var layout = Layout(list, destinationSize, expand, out long surplus);
        var lvs = new List<ResizeLogicalVolume>();
        if (lvExpand.Count > 0)
        {
            var known = await s.LvsAsync(ct).ConfigureAwait(false);
            foreach (var lv in lvExpand)
            {
                string canon = known.FirstOrDefault(k => k == lv || k == "/dev/mapper/" + lv.Replace("/dev/", "").Replace("/", "-"))
                    ?? throw new DiskResizeException("UnknownLogicalVolume", $"The source has no logical volume '{lv}'; its logical volumes are {(known.Length == 0 ? "none" : string.Join(", ", known))}.", lv);
                string content;
                try { content = await s.VfsTypeAsync(canon, ct).ConfigureAwait(false); } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { content = "unknown"; }
                string method = ExpandMethodFor(content) is { } m && content != "LVM2_member" ? m
                    : throw new DiskResizeException("CannotExpandContent", $"'{lv}' holds {content}, which cannot be grown (GuestFs grows ext2/3/4, xfs, ntfs and btrfs).", lv);
                lvs.Add(new ResizeLogicalVolume(canon, content, method));
            }
        }
        string? diskGuid = null;
        if (parttype == "gpt")
            try { diskGuid = await s.PartGetDiskGuidAsync(dev, ct).ConfigureAwait(false); } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { }
        return new ResizePlan
        {
            Source = sourcePath, Destination = destinationPath, SourceSize = sourceSize, DestinationSize = destinationSize,
            PartitionTableType = parttype, DiskGuid = diskGuid, Partitions = layout, LogicalVolumes = lvs, Surplus = surplus,
        };
    }

    /// <summary>
    /// First pass (source on /dev/sda, destination on /dev/sdb): partition table,
    /// boot loader area, partition attributes, then each partition's bytes.
    /// </summary>
    public static async Task CopyAsync(GuestSession s, ResizePlan plan, Action<string>? stage, CancellationToken ct)
    {
        const string src = "/dev/sda", dst = "/dev/sdb";
        bool gpt = plan.PartitionTableType == "gpt";
        stage?.Invoke("writing the partition table");
        await s.PartInitAsync(dst, plan.PartitionTableType, ct).ConfigureAwait(false);
        if (plan.DiskGuid is not null) await s.PartSetDiskGuidAsync(dst, plan.DiskGuid, ct).ConfigureAwait(false);
        // Boot code before the MBR's partition entries, then everything after the
        // partition table up to 2 MiB (the partition copies below overwrite any of it
        // that falls inside a partition).
        var bootCode = await s.PreadDeviceAsync(src, 446, 0, ct).ConfigureAwait(false);
        await s.PwriteDeviceAsync(dst, bootCode, 0, ct).ConfigureAwait(false);
        long after = gpt ? 17408 : 512;
        var loader = await s.PreadDeviceAsync(src, (int)MaxBootLoader, after, ct).ConfigureAwait(false);
        await s.PwriteDeviceAsync(dst, loader, after, ct).ConfigureAwait(false);

        foreach (var p in plan.Partitions)
            await s.PartAddAsync(dst, "primary", p.TargetStartSector, p.TargetEndSector, ct).ConfigureAwait(false);
        foreach (var p in plan.Partitions)
        {
            if (p.Bootable) await s.PartSetBootableAsync(dst, p.TargetNumber, true, ct).ConfigureAwait(false);
            if (gpt)
            {
                if (!string.IsNullOrEmpty(p.GptName)) await s.PartSetNameAsync(dst, p.TargetNumber, p.GptName!, ct).ConfigureAwait(false);
                if (p.GptGuid is not null) await s.PartSetGptGuidAsync(dst, p.TargetNumber, p.GptGuid, ct).ConfigureAwait(false);
                if (p.GptAttributes is { } attrs) await s.PartSetGptAttributesAsync(dst, p.TargetNumber, attrs, ct).ConfigureAwait(false);
                if (p.GptType is not null) await s.PartSetGptTypeAsync(dst, p.TargetNumber, p.GptType, ct).ConfigureAwait(false);
            }
            else if (p.MbrId is { } id)
            {
                await s.PartSetMbrIdAsync(dst, p.TargetNumber, id, ct).ConfigureAwait(false);
            }
        }
        foreach (var p in plan.Partitions)
        {
            stage?.Invoke($"copying {p.Name} ({ResizePlan.Human(p.Size)})");
            await s.CopyDeviceToDeviceAsync(p.Name, dst + p.TargetNumber.ToString(CultureInfo.InvariantCulture),
                size: Math.Min(p.Size, p.NewSize), sparse: true, cancellationToken: ct).ConfigureAwait(false);
        }
        await s.SyncAsync(ct).ConfigureAwait(false);
    }

    /// <summary>True when a second pass (destination alone) has content to grow.</summary>
    public static bool NeedsExpansion(ResizePlan plan) =>
        plan.Partitions.Any(p => p.ExpandMethod is not null) || plan.LogicalVolumes.Count > 0;

    /// <summary>
    /// Second pass, the destination alone on /dev/sda (alone so LVM does not see the
    /// source's volume group twice): grow the filesystems and PVs, then the LVs.
    /// </summary>
    public static async Task ExpandAsync(GuestSession s, ResizePlan plan, Action<string>? stage, CancellationToken ct)
    {
        foreach (var p in plan.Partitions.Where(p => p.ExpandMethod is not null))
        {
            string target = "/dev/sda" + p.TargetNumber.ToString(CultureInfo.InvariantCulture);
            stage?.Invoke($"growing {target} ({p.ExpandMethod})");
            await GrowAsync(s, target, p.Content, ct).ConfigureAwait(false);
        }
        foreach (var lv in plan.LogicalVolumes)
        {
            stage?.Invoke($"growing {lv.Name} ({lv.ExpandMethod})");
            await s.LvresizeFreeAsync(lv.Name, 100, ct).ConfigureAwait(false);
            await GrowAsync(s, lv.Name, lv.Content, ct).ConfigureAwait(false);
        }
        await s.SyncAsync(ct).ConfigureAwait(false);
    }

    private static async Task GrowAsync(GuestSession s, string device, string content, CancellationToken ct)
    {
        switch (content)
        {
            case "ext2" or "ext3" or "ext4":
                // guestfsd runs e2fsck -fy first when the filesystem is not mounted.
                await s.Resize2fsAsync(device, ct).ConfigureAwait(false);
                break;
            case "ntfs":
                await s.NtfsresizeAsync(device, cancellationToken: ct).ConfigureAwait(false);
                break;
            case "LVM2_member":
                await s.PvresizeAsync(device, ct).ConfigureAwait(false);
                break;
            case "xfs":
                await s.MountAsync(device, "/", ct).ConfigureAwait(false);
                try { await s.XfsGrowfsAsync("/", cancellationToken: ct).ConfigureAwait(false); }
                finally { await s.UmountAsync("/", cancellationToken: CancellationToken.None).ConfigureAwait(false); }
                break;
            case "btrfs":
                await s.MountAsync(device, "/", ct).ConfigureAwait(false);
                try { await s.BtrfsFilesystemResizeAsync("/", cancellationToken: ct).ConfigureAwait(false); }
                finally { await s.UmountAsync("/", cancellationToken: CancellationToken.None).ConfigureAwait(false); }
                break;
            default:
                throw new DiskResizeException("CannotExpandContent", $"{device} holds {content}, which cannot be grown.", device);
        }
    }
}
