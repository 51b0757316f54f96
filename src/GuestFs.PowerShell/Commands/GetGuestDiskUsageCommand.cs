using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// virt-df: size, used, available and use % (or inodes with -Inode) of every
/// filesystem of a session's disks, or of many images (-Path), one read-only
/// session per image.
/// </summary>
[Cmdlet(VerbsCommon.Get, "GuestDiskUsage", DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestDiskUsage))]
public sealed class GetGuestDiskUsageCommand : FleetCmdlet
{
    /// <summary>The PSTypeName that selects the inode view.</summary>
    public const string InodeTypeName = "GuestFs.Engine.Library.GuestDiskUsage#Inode";

    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Disk")]
    public GuestDisk? Disk { get; set; }

    /// <summary>Show inode counts (virt-df -i) in the default view; the objects carry both.</summary>
    [Parameter]
    public SwitchParameter Inode { get; set; }

    private object Shape(GuestDiskUsage u, GuestDisk? disk)
    {
        var o = PSObject.AsPSObject(u);
        if (Inode.IsPresent) o.TypeNames.Insert(0, InodeTypeName);
        if (disk is not null) o.Properties.Add(new PSNoteProperty("Disk", disk));
        return o;
    }

    protected override void EndProcessing()
    {
        if (!IsFleet) return;
        RunFleet("Measuring filesystems", async (session, image, ct) =>
        {
            var list = new List<object>();
            await foreach (var u in session.GetDiskUsageAsync(System.IO.Path.GetFileName(image), cancellationToken: ct).ConfigureAwait(false))
                list.Add(Shape(u, null));
            return list;
        }, "DiskUsageFailed");
    }

    protected override void ProcessRecord()
    {
        if (IsFleet) { CollectImages(); return; }
        var disk = ResolveDisk(Disk);
        try
        {
            RunStreaming(disk.Session,
                ct => disk.Session.GetDiskUsageAsync("", (dev, why, warn) => Post(() => { if (warn) WriteWarning($"{dev}: not measured: {why}"); else WriteVerbose($"{dev}: not measured (does not mount): {why}"); }), ct),
                u => WriteObject(Shape(u, disk)));
        }
        catch (Exception e) when (e is not PipelineStoppedException and not OperationCanceledException)
        {
            WriteError(ToErrorRecord(e, "DiskUsageFailed", disk, reading: true));
        }
    }
}
