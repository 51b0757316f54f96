using System;
using System.Linq;
using System.Management.Automation;

namespace GuestFs.PowerShell.Commands;

/// <summary>Unmounts guest filesystems (one mount point, or all of them).</summary>
[Cmdlet(VerbsData.Dismount, "GuestFs", SupportsShouldProcess = true, DefaultParameterSetName = "MountPoint")]
public sealed class DismountGuestFsCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "MountPoint", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] MountPoint { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>Force the unmount (umount -f), and fall back to a lazy unmount.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        if (All.IsPresent)
        {
            if (!ShouldProcess($"GuestDisk {disk.Id}", "Unmount all guest filesystems")) return;
            try { Run(ct => disk.Session.UmountAllAsync(ct), disk.Session); }
            catch (Exception e) { WriteError(ToErrorRecord(e, "DismountFailed", disk)); }
            return;
        }
        foreach (var mp in MountPoint)
        {
            if (!ShouldProcess(mp, "Unmount guest filesystem")) continue;
            try
            {
                Run(ct => disk.Session.UmountAsync(mp, Force.IsPresent ? true : null, Force.IsPresent ? true : null, ct), disk.Session);
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "DismountFailed", mp));
            }
        }
    }
}
