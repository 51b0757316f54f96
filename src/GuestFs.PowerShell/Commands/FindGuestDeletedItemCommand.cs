using System;
using System.Management.Automation;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>An entry sleuthkit found in a filesystem's structures (filesystem_walk), deleted or not.</summary>
public sealed class GuestDeletedItem
{
    public string Device { get; init; } = "";
    /// <summary>The path relative to the filesystem's root, as filesystem_walk gives it.</summary>
    public string Name { get; init; } = "";
    /// <summary>The inode (MFT entry on NTFS) to give download_inode; 0 when sleuthkit could not tell.</summary>
    public long Inode { get; init; }
    /// <summary>filesystem_walk's type letter: r file, d directory, l link, b/c device, f fifo, s socket, h shadow, w whiteout, u unknown.</summary>
    public char Type { get; init; }
    /// <summary>-1 when unknown.</summary>
    public long Size { get; init; }
    public bool Deleted { get; init; }
    /// <summary>The name is deleted but its inode was reused by another file: size, type and times may be that file's.</summary>
    public bool MetadataReallocated { get; init; }
    public TskDirentFlags Flags { get; init; }
    public DateTime? LastWriteTime { get; init; }
    public DateTime? LastAccessTime { get; init; }
    public DateTime? ChangeTime { get; init; }
    public DateTime? CreationTime { get; init; }
    public long LinkCount { get; init; }
    public string Target { get; init; } = "";
    /// <summary>The Id of the GuestDisk the item is on (-Disk takes it).</summary>
    public int Disk { get; init; }

    internal static DateTime? Time(long sec, long nsec) =>
        sec == 0 && nsec == 0 ? null : DateTime.UnixEpoch.AddSeconds(sec).AddTicks(nsec / 100);

    internal static GuestDeletedItem From(GuestTskDirent d, string device, GuestDisk disk)
    {
        var f = (TskDirentFlags)d.TskFlags;
        return new GuestDeletedItem
        {
            Device = device, Name = d.TskName, Inode = (long)d.TskInode, Type = d.TskType, Size = d.TskSize,
            Deleted = (f & TskDirentFlags.Allocated) == 0, MetadataReallocated = (f & TskDirentFlags.MetadataReallocated) != 0, Flags = f,
            LastWriteTime = Time(d.TskMtimeSec, d.TskMtimeNsec), LastAccessTime = Time(d.TskAtimeSec, d.TskAtimeNsec),
            ChangeTime = Time(d.TskCtimeSec, d.TskCtimeNsec), CreationTime = Time(d.TskCrtimeSec, d.TskCrtimeNsec),
            LinkCount = d.TskNlink, Target = d.TskLink, Disk = disk.Id,
        };
    }
}

/// <summary>
/// Deleted files and directories of a filesystem, found by walking its
/// structures with sleuthkit (filesystem_walk), streamed; recover one with
/// download_inode (see the help). -All also returns the entries that are not deleted.
/// </summary>
[Cmdlet(VerbsCommon.Find, "GuestDeletedItem")]
[OutputType(typeof(GuestDeletedItem))]
public sealed class FindGuestDeletedItemCommand : GuestCmdlet
{
    /// <summary>The filesystem's device (/dev/sda1, /dev/VG/LV …); it need not be mounted.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Device")]
    public string[] FileSystem { get; set; } = Array.Empty<string>();

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>Only names matching this wildcard (against the path relative to the filesystem's root).</summary>
    [Parameter]
    [SupportsWildcards]
    public string? Filter { get; set; }

    /// <summary>Also return entries that are not deleted (the whole walk).</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        var session = disk.Session;
        var pattern = Filter is null ? null : new WildcardPattern(Filter, WildcardOptions.IgnoreCase);
        foreach (var device in FileSystem)
        {
            string? problem = null;
            try
            {
                string type = Run(ct => session.VfsTypeAsync(device, ct), session);
                if (type.Length == 0) problem = "it holds no filesystem";
                else if (type is "swap" or "crypto_LUKS" or "LVM2_member" or "linux_raid_member")
                    problem = $"it holds {type}, not a filesystem";
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException)
            {
                WriteError(ToErrorRecord(e, "FileSystemNotFound", device, reading: true));
                continue;
            }
            if (problem is not null)
            {
                WriteError(new ErrorRecord(new ArgumentException(
                    $"'{device}': {problem}; Get-GuestFileSystem lists the filesystems sleuthkit can walk"),
                    "NotAFileSystem", ErrorCategory.InvalidArgument, device));
                continue;
            }
            try
            {
                RunStreaming(session, ct => session.WalkFileSystemAsync(device, ct), d =>
                {
                    bool deleted = ((TskDirentFlags)d.TskFlags & TskDirentFlags.Allocated) == 0;
                    if (!deleted && !All.IsPresent) return;
                    if (pattern is not null && !pattern.IsMatch(d.TskName)) return;
                    WriteObject(GuestDeletedItem.From(d, device, disk));
                });
            }
            catch (Exception e) when (e is not PipelineStoppedException and not OperationCanceledException)
            {
                WriteError(ToErrorRecord(e, "FileSystemWalkFailed", device, reading: true));
            }
        }
    }
}
