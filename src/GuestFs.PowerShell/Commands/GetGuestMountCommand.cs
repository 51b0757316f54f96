using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Lists what is mounted where in a session.</summary>
[Cmdlet(VerbsCommon.Get, "GuestMount")]
[OutputType(typeof(GuestMountInfo))]
public sealed class GetGuestMountCommand : GuestCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        try
        {
            foreach (var m in Run(ct => disk.Session.GetMountsAsync(ct), disk.Session))
                WriteObject(m);
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "ListMountsFailed", disk, reading: true));
        }
    }
}
