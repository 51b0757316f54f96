using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>One difference between two guest trees.</summary>
public sealed class GuestItemDifference
{
    /// <summary>The path relative to the compared directories, starting with '/'.</summary>
    public string Path { get; init; } = "";
    /// <summary>Added (only in the difference tree), Removed (only in the reference tree) or Modified.</summary>
    public string Change { get; init; } = "";
    /// <summary>What differs for Modified: Type, Content, Size, Mode, Owner, LinkCount, Target, LastWriteTime, ChangeTime, Xattr.</summary>
    public string[] Changes { get; init; } = Array.Empty<string>();
    public GuestFileInfo? ReferenceItem { get; init; }
    public GuestFileInfo? DifferenceItem { get; init; }
    /// <summary>SHA256 of a regular file's content when it was compared (upper-case hex).</summary>
    public string? ReferenceHash { get; init; }
    public string? DifferenceHash { get; init; }
    /// <summary>With -IncludeXattr: the names of the extended attributes added, removed or changed.</summary>
    public string[] ChangedXattrs { get; init; } = Array.Empty<string>();
}

/// <summary>
/// virt-diff: the differences between two directory trees (of two disks, or
/// two directories of one disk), as Added, Removed and Modified objects that
/// say what changed.
/// </summary>
[Cmdlet(VerbsData.Compare, "GuestItem")]
[OutputType(typeof(GuestItemDifference))]
public sealed class CompareGuestItemCommand : GuestCmdlet
{
    /// <summary>The reference session (default: the only open one).</summary>
    [Parameter(Position = 0)]
    public GuestDisk? ReferenceDisk { get; set; }

    /// <summary>The session compared with it (default: the reference session).</summary>
    [Parameter(Position = 1)]
    public GuestDisk? DifferenceDisk { get; set; }

    /// <summary>The directory compared in the reference session.</summary>
    [Parameter]
    public string Path { get; set; } = "/";

    /// <summary>The directory compared in the difference session (default: -Path).</summary>
    [Parameter]
    public string? DifferencePath { get; set; }

    /// <summary>Also compare modification and change times of files (directory times are never compared, as virt-diff without --dir-times).</summary>
    [Parameter]
    public SwitchParameter IncludeTime { get; set; }

    /// <summary>Also compare extended attributes (virt-diff --xattrs): read in one call per directory and batch.</summary>
    [Parameter]
    [Alias("IncludeXattrs")]
    public SwitchParameter IncludeXattr { get; set; }

    private IReadOnlyDictionary<string, GuestFs.Engine.Api.GuestXattr[]>? _refXattrs, _difXattrs;

    protected override void EndProcessing()
    {
        var refDisk = ResolveDisk(ReferenceDisk);
        var difDisk = DifferenceDisk is null ? refDisk : ResolveDisk(DifferenceDisk);
        string refPath = GuestPath.Normalize(Path);
        string difPath = GuestPath.Normalize(DifferencePath ?? Path);
        if (ReferenceEquals(refDisk, difDisk) && refPath == difPath)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                $"Nothing to compare: both sides are {refPath} of GuestDisk {refDisk.Id}. Give -DifferenceDisk, or -DifferencePath for two directories of one disk."),
                "SameItem", ErrorCategory.InvalidArgument, refPath));
            return;
        }
        foreach (var (disk, path, name) in new[] { (refDisk, refPath, "-Path"), (difDisk, difPath, DifferencePath is null ? "-Path" : "-DifferencePath") })
        {
            bool ok;
            try
            {
                ok = Run(async ct => (await disk.Session.MountpointsAsync(ct).ConfigureAwait(false)).Count > 0
                    && await disk.Session.IsDirAsync(path, cancellationToken: ct).ConfigureAwait(false), disk.Session);
            }
            catch (Exception e) { ThrowTerminatingError(ToErrorRecord(e, "CompareFailed", path, reading: true)); return; }
            if (!ok)
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"GuestDisk {disk.Id} cannot be compared at {path} ({name}): nothing is mounted there or it is not a directory. Mount the guest first (Open-GuestDisk -Inspect, or Mount-GuestFs)."),
                    "NotComparable", ErrorCategory.InvalidArgument, path));
                return;
            }
        }

        GuestFileInfo[] a, b;
        try
        {
            a = Run(ct => refDisk.Session.GetTreeAsync(refPath, cancellationToken: ct), refDisk.Session);
            b = Run(ct => difDisk.Session.GetTreeAsync(difPath, cancellationToken: ct), difDisk.Session);
        }
        catch (Exception e) { ThrowTerminatingError(ToErrorRecord(e, "CompareFailed", refPath, reading: true)); return; }

        if (IncludeXattr.IsPresent)
        {
            try
            {
                _refXattrs = Run(ct => XattrsOf(refDisk.Session, a, ct), refDisk.Session);
                _difXattrs = Run(ct => XattrsOf(difDisk.Session, b, ct), difDisk.Session);
            }
            catch (Exception e) { ThrowTerminatingError(ToErrorRecord(e, "CompareFailed", refPath, reading: true)); return; }
        }

        string Rel(GuestFileInfo f, string root) => root == "/" ? f.FullName : f.FullName[root.Length..];
        var ra = a.Select(f => (Rel: Rel(f, refPath), F: f)).OrderBy(x => x.Rel, StringComparer.Ordinal).ToList();
        var rb = b.Select(f => (Rel: Rel(f, difPath), F: f)).OrderBy(x => x.Rel, StringComparer.Ordinal).ToList();
        int i = 0, j = 0;
        while (i < ra.Count || j < rb.Count)
        {
            int c = i >= ra.Count ? 1 : j >= rb.Count ? -1 : string.CompareOrdinal(ra[i].Rel, rb[j].Rel);
            if (c < 0) { WriteObject(new GuestItemDifference { Path = ra[i].Rel, Change = "Removed", ReferenceItem = ra[i].F }); i++; }
            else if (c > 0) { WriteObject(new GuestItemDifference { Path = rb[j].Rel, Change = "Added", DifferenceItem = rb[j].F }); j++; }
            else
            {
                var d = Diff(ra[i].Rel, ra[i].F, rb[j].F, refDisk.Session, difDisk.Session);
                if (d is not null) WriteObject(d);
                i++; j++;
            }
        }
    }

    private GuestItemDifference? Diff(string rel, GuestFileInfo x, GuestFileInfo y, GuestSession sx, GuestSession sy)
    {
        var changes = new List<string>();
        bool dir = x.ItemType == GuestItemType.Directory && y.ItemType == GuestItemType.Directory;
        if (x.ItemType != y.ItemType) changes.Add("Type");
        if ((x.UnixMode & 0xFFF) != (y.UnixMode & 0xFFF)) changes.Add("Mode");
        if (x.Uid != y.Uid || x.Gid != y.Gid) changes.Add("Owner");
        if (!dir && x.LinkCount != y.LinkCount) changes.Add("LinkCount");
        if (!dir && x.Length != y.Length) changes.Add("Size");
        if (x.Target != y.Target) changes.Add("Target");
        if (IncludeTime.IsPresent && !dir)
        {
            if (x.LastWriteTime != y.LastWriteTime) changes.Add("LastWriteTime");
            if (x.ChangeTime != y.ChangeTime) changes.Add("ChangeTime");
        }
        var changedXattrs = Array.Empty<string>();
        if (_refXattrs is not null && _difXattrs is not null)
        {
            changedXattrs = XattrDifferences(_refXattrs.GetValueOrDefault(x.FullName), _difXattrs.GetValueOrDefault(y.FullName));
            if (changedXattrs.Length > 0) changes.Add("Xattr");
        }
        string? hx = null, hy = null;
        if (x.ItemType == GuestItemType.File && y.ItemType == GuestItemType.File)
        {
            if (x.Length != y.Length) changes.Add("Content");
            else
            {
                try
                {
                    hx = Run(ct => sx.ChecksumAsync("sha256", x.FullName, ct), sx).ToUpperInvariant();
                    hy = Run(ct => sy.ChecksumAsync("sha256", y.FullName, ct), sy).ToUpperInvariant();
                    if (hx != hy) changes.Add("Content");
                }
                catch (GuestFsException e) when (e is not GuestFsProtocolException)
                {
                    WriteError(ToErrorRecord(e, "ChecksumFailed", rel, reading: true));
                }
            }
        }
        if (changes.Count == 0) return null;
        return new GuestItemDifference
        {
            Path = rel, Change = "Modified", Changes = changes.ToArray(), ReferenceItem = x, DifferenceItem = y, ReferenceHash = hx, DifferenceHash = hy,
            ChangedXattrs = changedXattrs,
        };
    }

    /// <summary>The extended attributes of every item of a tree, one batched call per directory, keyed by full path.</summary>
    private static async Task<IReadOnlyDictionary<string, GuestFs.Engine.Api.GuestXattr[]>> XattrsOf(GuestSession s, GuestFileInfo[] items, CancellationToken ct)
    {
        var all = new Dictionary<string, GuestFs.Engine.Api.GuestXattr[]>(StringComparer.Ordinal);
        foreach (var dir in items.Where(f => f.FullName != "/").GroupBy(f => f.DirectoryName, StringComparer.Ordinal))
        {
            var names = dir.Select(f => f.Name).ToArray();
            var found = await s.GetXattrsAsync(dir.Key, names, ct).ConfigureAwait(false);
            foreach (var f in dir)
                if (found.TryGetValue(f.Name, out var list)) all[f.FullName] = list;
        }
        return all;
    }

    /// <summary>Names of attributes present on one side only, or with other values (ordinal order).</summary>
    internal static string[] XattrDifferences(GuestFs.Engine.Api.GuestXattr[]? a, GuestFs.Engine.Api.GuestXattr[]? b)
    {
        var left = (a ?? Array.Empty<GuestFs.Engine.Api.GuestXattr>()).ToDictionary(x => x.Attrname, x => x.Attrval, StringComparer.Ordinal);
        var right = (b ?? Array.Empty<GuestFs.Engine.Api.GuestXattr>()).ToDictionary(x => x.Attrname, x => x.Attrval, StringComparer.Ordinal);
        return left.Keys.Union(right.Keys, StringComparer.Ordinal)
            .Where(n => !left.TryGetValue(n, out var l) || !right.TryGetValue(n, out var r) || !l.AsSpan().SequenceEqual(r))
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToArray();
    }
}
