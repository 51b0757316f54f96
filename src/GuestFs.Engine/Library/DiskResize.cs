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

    /// <summary><c>copy</c> (same size), <c>resize</c> (grown) or <c>shrink</c>.</summary>
    public string Operation { get; init; } = "copy";
    /// <summary>Size on the destination in bytes (equals <see cref="Size"/> for a copy).</summary>
    public long NewSize { get; init; }
    /// <summary>Partition number and first/last sector on the destination.</summary>
    public int TargetNumber { get; init; }
    public long TargetStartSector { get; init; }
    public long TargetEndSector { get; init; }
    /// <summary>How the content is grown (resize2fs, xfs_growfs, ntfsresize, btrfs, pvresize, mkswap), or null.</summary>
    public string? ExpandMethod { get; init; }
    /// <summary>
    /// How the content is made to fit a smaller partition before it is copied (resize2fs,
    /// ntfsresize, btrfs filesystem resize, pvresize; on the source's throw-away overlay,
    /// so the source never changes), or null when the partition does not shrink.
    /// </summary>
    public string? ShrinkMethod => Operation == "shrink" ? DiskResize.ShrinkMethodFor(Content) : null;
}

/// <summary>
/// Which partitions change size: <see cref="Expand"/> takes the surplus, <see cref="Shrink"/>
/// gives up the deficit (virt-resize --expand / --shrink), <see cref="Resizes"/> sets sizes
/// by name (virt-resize --resize part=size).
/// </summary>
public sealed record ResizeRequest
{
    public string? Expand { get; init; }
    public string? Shrink { get; init; }
    /// <summary>Partition name to size: bytes, <c>10G</c>, <c>+200M</c>, <c>-1G</c>, <c>+10%</c>, <c>-10%</c> or <c>150%</c>.</summary>
    public IReadOnlyDictionary<string, string> Resizes { get; init; } = new Dictionary<string, string>();
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
    /// <summary>Bytes left over after the partitions and the partitioning overhead, before -Expand used them
    /// (negative: the deficit -Shrink took).</summary>
    public long Surplus { get; init; }

    /// <summary>The plan as a text table (what -WhatIf prints).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Resize {Source} ({Human(SourceSize)}) into {Destination} ({Human(DestinationSize)}), {PartitionTableType} partition table:");
        sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-12} {1,-14} {2,-8} {3,12} {4,12}  {5}", "Partition", "Content", "Action", "Old size", "New size", "Content"));
        foreach (var p in Partitions)
            sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-12} {1,-14} {2,-8} {3,12} {4,12}  {5}",
                p.Name, p.Content, p.Operation, Human(p.Size), Human(p.NewSize),
                p.ShrinkMethod is not null ? $"{p.ShrinkMethod} (shrunk, then fitted)" : p.ExpandMethod ?? "-"));
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
    /// <summary>DestinationTooSmall, UnknownPartition, CannotExpandContent, CannotShrinkContent, ContentTooLarge,
    /// NoDeficit, BadResizeSize, UnsupportedPartitionTable, UnknownLogicalVolume.</summary>
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
        "swap" => "mkswap",
        _ => null,
    };

    /// <summary>
    /// The method that makes <paramref name="content"/> smaller, or null when it cannot
    /// shrink: every content that grows shrinks with the same tool, except xfs.
    /// </summary>
    public static string? ShrinkMethodFor(string content) => content == "xfs" ? null : ExpandMethodFor(content);

    /// <summary>
    /// A new partition size from virt-resize's --resize forms: an absolute size (<c>10G</c>,
    /// or bytes), a change (<c>+200M</c>, <c>-1G</c>) or a percentage of the old size
    /// (<c>+10%</c>, <c>-10%</c>, <c>150%</c>). Units K, M, G, T, P, E are powers of 1024.
    /// </summary>
    public static long ParseSize(long oldSize, string text, string partition)
    {
        string t = text.Trim();
        DiskResizeException Bad() => new("BadResizeSize",
            $"'{text}' for {partition} is not a size; write bytes or a number with K, M, G or T (10G), a change (+200M, -1G) or a percentage of the old size (+10%, -10%, 150%).", partition);
        if (t.Length == 0) throw Bad();
        int sign = 0;
        if (t[0] is '+' or '-') { sign = t[0] == '+' ? 1 : -1; t = t[1..]; }
        long value;
        if (t.EndsWith('%'))
        {
            if (!double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double pct) || pct < 0) throw Bad();
            value = (long)Math.Round(oldSize * pct / 100.0);
        }
        else
        {
            long mult = 1;
            if (t.Length > 0 && char.IsLetter(t[^1]))
            {
                mult = char.ToUpperInvariant(t[^1]) switch
                {
                    'B' => 1, 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, 'T' => 1L << 40, 'P' => 1L << 50, 'E' => 1L << 60,
                    _ => throw Bad(),
                };
                t = t[..^1];
            }
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || n < 0) throw Bad();
            value = (long)Math.Round(n * mult);
        }
        return sign == 0 ? value : oldSize + sign * value;
    }

    /// <summary>Lays out the destination with one partition expanded (or none). Pure.</summary>
    public static IReadOnlyList<ResizePartition> Layout(IReadOnlyList<ResizePartition> source, long destinationSize, string? expand,
        out long surplus) => Layout(source, destinationSize, new ResizeRequest { Expand = expand }, out surplus);

    /// <summary>
    /// Lays out the destination as virt-resize does: sizes from <see cref="ResizeRequest.Resizes"/>
    /// first, then the surplus to <see cref="ResizeRequest.Expand"/> or the deficit from
    /// <see cref="ResizeRequest.Shrink"/>. Pure: the unit tests call it directly.
    /// </summary>
    public static IReadOnlyList<ResizePartition> Layout(IReadOnlyList<ResizePartition> source, long destinationSize, ResizeRequest request,
        out long surplus)
    {
        if (source.Count == 0)
            throw new DiskResizeException("NoPartitions", "The source disk has no partitions; there is nothing to resize (copy it with qemu-img convert and grow it with qemu-img resize instead).");
        if (request.Expand is not null && request.Shrink is not null)
            throw new DiskResizeException("ExpandAndShrink", "-Expand and -Shrink cannot be used together: a destination larger than the partitions needs -Expand, a smaller one -Shrink.", request.Shrink);
        ResizePartition Find(string name, string option) => source.FirstOrDefault(p => p.Name == name)
            ?? throw new DiskResizeException("UnknownPartition",
                $"The source disk has no partition '{name}' ({option}); its partitions are {string.Join(", ", source.Select(p => p.Name))}.", name);

        var sizes = new Dictionary<ResizePartition, long>(ReferenceEqualityComparer.Instance);
        void Mark(ResizePartition p, long newSize, string option)
        {
            if (sizes.ContainsKey(p))
                throw new DiskResizeException("PartitionResizedTwice", $"{p.Name} is resized twice ({option} and an earlier option); name each partition once.", p.Name);
            if (newSize <= 0)
                throw new DiskResizeException("DestinationTooSmall", $"{p.Name} would be {newSize} bytes ({option}); a partition needs a positive size. Make -SizeBytes larger.", p.Name);
            if (newSize > p.Size) RequireGrowable(p, option);
            if (newSize < p.Size && ShrinkMethodFor(p.Content) is null)
                throw new DiskResizeException("CannotShrinkContent",
                    $"'{p.Name}' holds {p.Content}, which cannot be shrunk (xfs never shrinks; GuestFs shrinks ext2/3/4, ntfs, btrfs, swap and LVM PVs); choose another partition with {option}, or make -SizeBytes larger.", p.Name);
            if (newSize != p.Size) sizes[p] = newSize;
        }
        foreach (var (name, text) in request.Resizes)
        {
            var p = Find(name, "-Resize");
            Mark(p, ParseSize(p.Size, text, name), "-Resize");
        }

        long firstStartSects = source[0].Start / SectorSize;
        long startOverhead = Math.Max(Math.Max(64, MaxBootLoader / 512), firstStartSects);
        long overhead = (startOverhead + Alignment * (source.Count + 1) + 64) * SectorSize;
        long Required() => source.Sum(p => sizes.TryGetValue(p, out long n) ? n : p.Size);
        surplus = destinationSize - (Required() + overhead);
        if (request.Expand is not null)
        {
            var grow = Find(request.Expand, "-Expand");
            // Said before a size problem: no size makes this partition growable.
            RequireGrowable(grow, "-Expand");
            if (surplus < 0) throw TooSmall(destinationSize, surplus, Required(), overhead);
            Mark(grow, grow.Size + surplus, "-Expand");
        }
        else if (request.Shrink is not null)
        {
            var cut = Find(request.Shrink, "-Shrink");
            if (surplus >= 0)
                throw new DiskResizeException("NoDeficit",
                    $"-Shrink takes room from {cut.Name} only when the destination is smaller than the partitions need; {ResizePlan.Human(destinationSize)} leaves {ResizePlan.Human(surplus)} spare. Use -Expand to give a partition the extra room, or a smaller -SizeBytes.", cut.Name);
            Mark(cut, cut.Size + surplus, "-Shrink");
        }
        long left = destinationSize - (Required() + overhead);
        if (left < 0) throw TooSmall(destinationSize, left, Required(), overhead);

        var result = new List<ResizePartition>();
        long start = firstStartSects;
        int n = 1;
        foreach (var p in source)
        {
            bool changed = sizes.TryGetValue(p, out long newSize);
            if (!changed) newSize = p.Size;
            long sects = (newSize + SectorSize - 1) / SectorSize;
            long end = start + sects;
            long next = RoundUp(end, Alignment);
            string op = !changed ? "copy" : newSize > p.Size ? "resize" : "shrink";
            result.Add(p with
            {
                Operation = op,
                NewSize = newSize,
                TargetNumber = n,
                TargetStartSector = start,
                TargetEndSector = changed ? next - 1 : end - 1,
                ExpandMethod = changed ? ExpandMethodFor(p.Content) : null,
            });
            start = next;
            n++;
        }
        return result;
    }

    private static void RequireGrowable(ResizePartition p, string option)
    {
        if (ExpandMethodFor(p.Content) is null)
            throw new DiskResizeException("CannotExpandContent",
                $"'{p.Name}' holds {p.Content}, which cannot be grown (GuestFs grows ext2/3/4, xfs, ntfs, btrfs, swap and LVM PVs); choose another partition with {option}.", p.Name);
    }

    private static DiskResizeException TooSmall(long destinationSize, long surplus, long required, long overhead) =>
        new("DestinationTooSmall",
            $"The destination ({ResizePlan.Human(destinationSize)}) is too small for the partitions ({ResizePlan.Human(required)} plus {ResizePlan.Human(overhead)} for partitioning); make -SizeBytes at least {destinationSize - surplus} bytes, or take the room from a partition with -Shrink.", destinationSize);

    private static long RoundUp(long v, long a) => (v + a - 1) / a * a;

    /// <summary>Reads the source's partitions (source on /dev/sda) and lays out the destination.</summary>
    public static async Task<ResizePlan> PlanAsync(GuestSession s, string sourcePath, string destinationPath, long destinationSize,
        ResizeRequest request, IReadOnlyList<string> lvExpand, CancellationToken ct)
    {
        const string dev = "/dev/sda";
        string parttype = await s.PartGetParttypeAsync(dev, ct).ConfigureAwait(false);
        if (parttype is not ("msdos" or "gpt"))
            throw new DiskResizeException("UnsupportedPartitionTable", $"The source has a '{parttype}' partition table; GuestFs resizes MBR (msdos) and GPT disks.", sourcePath);
        long sourceSize = await s.BlockdevGetsize64Async(dev, ct).ConfigureAwait(false);
        var parts = await s.PartListAsync(dev, ct).ConfigureAwait(false);
        // Types, flags, GUIDs and names come from the table itself, read once: asking
        // parted/sgdisk for each field of each partition costs about 4 s a partition under TCG.
        var head = await s.PreadDeviceAsync(dev, 34 * 512, 0, ct).ConfigureAwait(false);
        var table = PartitionTableBytes.Parse(parttype, head);
        if (table.Gpt is { } gh && (gh.EntriesLba != 2 || (long)gh.EntryCount * gh.EntrySize > 32 * 512))
            table = PartitionTableBytes.Parse(parttype, head, await s.PreadDeviceAsync(dev, checked(gh.EntryCount * gh.EntrySize), gh.EntriesLba * 512, ct).ConfigureAwait(false));
        var list = new List<ResizePartition>();
        foreach (var gp in parts.OrderBy(p => p.PartNum))
        {
            string name = dev + gp.PartNum.ToString(CultureInfo.InvariantCulture);
            if (parttype == "msdos" && gp.PartNum > 4)
                throw new DiskResizeException("UnsupportedPartitionTable", $"'{name}' is a logical partition; GuestFs resizes MBR disks with primary partitions only.", sourcePath);
            string content;
            try { content = await s.VfsTypeAsync(name, ct).ConfigureAwait(false); } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { content = ""; }
            if (string.IsNullOrEmpty(content)) content = "unknown";
            var p = new ResizePartition { Name = name, Number = gp.PartNum, Start = gp.PartStart, Size = gp.PartSize, Content = content };
            if (parttype == "msdos")
            {
                var e = table.Mbr[gp.PartNum - 1];
                if (e.Type is 0x05 or 0x0f or 0x85)
                    throw new DiskResizeException("UnsupportedPartitionTable", $"'{name}' is an extended partition; GuestFs resizes MBR disks with primary partitions only.", sourcePath);
                p = p with { MbrId = e.Type, Bootable = e.Bootable };
            }
            else
            {
                var e = table.GptEntries.FirstOrDefault(x => x.Number == gp.PartNum)
                    ?? throw new DiskResizeException("UnsupportedPartitionTable", $"'{name}' has no entry in the GPT GuestFs read; the table may be damaged (check it with gdisk).", sourcePath);
                p = p with { GptType = e.Type, GptGuid = e.Guid, GptAttributes = e.Attributes, GptName = e.Name };
            }
            list.Add(p);
        }
        var layout = Layout(list, destinationSize, request, out long surplus);
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
        string? diskGuid = table.Gpt?.DiskGuid;
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
        // Content that must fit a smaller partition is shrunk first, on the source's
        // throw-away overlay (the source drive is read-only), so the copy below carries
        // a filesystem or PV no larger than its new partition.
        foreach (var p in plan.Partitions.Where(p => p.ShrinkMethod is not null and not "mkswap"))
        {
            stage?.Invoke($"shrinking the {p.Content} in {p.Name} to {ResizePlan.Human(p.NewSize)} ({p.ShrinkMethod})");
            await ShrinkContentAsync(s, p, ct).ConfigureAwait(false);
        }
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
            stage?.Invoke($"{(p.Operation == "shrink" ? "fitting" : "growing")} {target} ({p.ExpandMethod})");
            await GrowAsync(s, target, p.Content, ct, wasShrunk: p.ShrinkMethod is not null).ConfigureAwait(false);
        }
        foreach (var lv in plan.LogicalVolumes)
        {
            stage?.Invoke($"growing {lv.Name} ({lv.ExpandMethod})");
            await s.LvresizeFreeAsync(lv.Name, 100, ct).ConfigureAwait(false);
            await GrowAsync(s, lv.Name, lv.Content, ct).ConfigureAwait(false);
        }
        await s.SyncAsync(ct).ConfigureAwait(false);
    }

    private static async Task ShrinkContentAsync(GuestSession s, ResizePartition p, CancellationToken ct)
    {
        try
        {
            switch (p.Content)
            {
                case "ext2" or "ext3" or "ext4":
                    await s.Resize2fsSizeAsync(p.Name, p.NewSize, ct).ConfigureAwait(false);
                    break;
                case "ntfs":
                    await s.NtfsresizeAsync(p.Name, size: p.NewSize, cancellationToken: ct).ConfigureAwait(false);
                    break;
                case "LVM2_member":
                    await s.PvresizeSizeAsync(p.Name, p.NewSize, ct).ConfigureAwait(false);
                    break;
                case "btrfs":
                    await s.MountAsync(p.Name, "/", ct).ConfigureAwait(false);
                    try { await s.BtrfsFilesystemResizeAsync("/", p.NewSize, ct).ConfigureAwait(false); }
                    finally { await s.UmountAsync("/", cancellationToken: CancellationToken.None).ConfigureAwait(false); }
                    break;
                default:
                    throw new DiskResizeException("CannotShrinkContent", $"{p.Name} holds {p.Content}, which cannot be shrunk.", p.Name);
            }
        }
        catch (GuestFsException e) when (e is not GuestFsProtocolException)
        {
            throw new DiskResizeException("ContentTooLarge",
                $"The {p.Content} in {p.Name} does not fit into {ResizePlan.Human(p.NewSize)} ({p.ShrinkMethod}: {e.Message.Trim()}). Free space in it first, or make -SizeBytes larger so {p.Name} keeps more room. The source was not changed.", p.Name);
        }
    }

    private static async Task GrowAsync(GuestSession s, string device, string content, CancellationToken ct, bool wasShrunk = false)
    {
        switch (content)
        {
            case "ext2" or "ext3" or "ext4":
                // guestfsd runs e2fsck -fy first when the filesystem is not mounted.
                await s.Resize2fsAsync(device, ct).ConfigureAwait(false);
                break;
            case "ntfs":
                // ntfsresize marks a volume it shrank for a Windows chkdsk; growing it again needs --force.
                await s.NtfsresizeAsync(device, force: wasShrunk ? true : null, cancellationToken: ct).ConfigureAwait(false);
                break;
            case "swap":
            {
                // A new swap signature over the whole partition, with the old UUID and label.
                string uuid = "", label = "";
                try { uuid = await s.VfsUuidAsync(device, ct).ConfigureAwait(false); } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { }
                try { label = await s.VfsLabelAsync(device, ct).ConfigureAwait(false); } catch (GuestFsException e0) when (e0 is not GuestFsProtocolException) { }
                await s.MkswapAsync(device, label: label.Length == 0 ? null : label, uuid: uuid.Length == 0 ? null : uuid, cancellationToken: ct).ConfigureAwait(false);
                break;
            }
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


/// <summary>
/// The partition table read straight from the disk's first sectors: MBR entries
/// (type byte, boot flag) and the GPT header and entries (type and partition GUIDs,
/// attributes, names), with 512-byte sectors.
/// </summary>
public sealed record PartitionTableBytes
{
    public sealed record MbrEntry(int Type, bool Bootable);
    public sealed record GptHeader(string DiskGuid, long EntriesLba, int EntryCount, int EntrySize);
    public sealed record GptEntry(int Number, string Type, string Guid, long Attributes, string Name);

    public IReadOnlyList<MbrEntry> Mbr { get; init; } = Array.Empty<MbrEntry>();
    public GptHeader? Gpt { get; init; }
    public IReadOnlyList<GptEntry> GptEntries { get; init; } = Array.Empty<GptEntry>();

    /// <param name="parttype"><c>msdos</c> or <c>gpt</c>.</param>
    /// <param name="head">The first sectors of the disk (at least 2).</param>
    /// <param name="entries">The GPT entry array when it is not in <paramref name="head"/> at LBA 2.</param>
    public static PartitionTableBytes Parse(string parttype, byte[] head, byte[]? entries = null)
    {
        if (head.Length < 1024) throw new ArgumentException("the first two sectors are needed", nameof(head));
        var mbr = new List<MbrEntry>();
        for (int i = 0; i < 4; i++)
        {
            int o = 446 + 16 * i;
            mbr.Add(new MbrEntry(head[o + 4], head[o] == 0x80));
        }
        if (parttype != "gpt") return new PartitionTableBytes { Mbr = mbr };
        var h = head.AsSpan(512, 512);
        if (!h[..8].SequenceEqual("EFI PART"u8))
            throw new DiskResizeException("UnsupportedPartitionTable", "The GPT header at sector 1 has no \"EFI PART\" signature; the table may be damaged (check it with gdisk).");
        var header = new GptHeader(
            new Guid(h.Slice(56, 16)).ToString("D").ToUpperInvariant(),
            System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(h.Slice(72, 8)),
            System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(h.Slice(80, 4)),
            System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(h.Slice(84, 4)));
        if (header.EntrySize < 128 || header.EntryCount is < 1 or > 4096)
            throw new DiskResizeException("UnsupportedPartitionTable", $"The GPT header gives {header.EntryCount} entries of {header.EntrySize} bytes; the table may be damaged (check it with gdisk).");
        byte[] array;
        if (entries is not null) array = entries;
        else if (header.EntriesLba == 2 && 1024 + (long)header.EntryCount * header.EntrySize <= head.Length) array = head[1024..];
        else return new PartitionTableBytes { Mbr = mbr, Gpt = header };
        var list = new List<GptEntry>();
        for (int i = 0; i < header.EntryCount && (i + 1) * header.EntrySize <= array.Length; i++)
        {
            var e = array.AsSpan(i * header.EntrySize, 128);
            var type = new Guid(e[..16]);
            if (type == Guid.Empty) continue;
            string name = System.Text.Encoding.Unicode.GetString(e.Slice(56, 72)).TrimEnd('\0');
            int nul = name.IndexOf('\0');
            if (nul >= 0) name = name[..nul];
            list.Add(new GptEntry(i + 1, type.ToString("D").ToUpperInvariant(), new Guid(e.Slice(16, 16)).ToString("D").ToUpperInvariant(),
                System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(e.Slice(48, 8)), name));
        }
        return new PartitionTableBytes { Mbr = mbr, Gpt = header, GptEntries = list };
    }
}
