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
                if (!Force.IsPresent)
                {
                    Run(ct => disk.Session.UmountAsync(mp, null, null, ct), disk.Session);
                    continue;
                }
                try
                {
                    Run(ct => disk.Session.UmountAsync(mp, true, null, ct), disk.Session);
                }
                catch (Engine.Protocol.GuestFsException e) when (e is not Engine.Protocol.GuestFsProtocolException)
                {
                    // Still busy: detach it now and let the kernel finish when it is free.
                    WriteVerbose($"forced unmount of {mp} failed ({e.DaemonMessage}); falling back to a lazy unmount");
                    Run(ct => disk.Session.UmountAsync(mp, true, true, ct), disk.Session);
                }
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "DismountFailed", mp));
            }
        }
    }
}
