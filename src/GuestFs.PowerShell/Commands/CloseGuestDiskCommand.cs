using System;
using System.Linq;
using System.Management.Automation;

namespace GuestFs.PowerShell.Commands;

/// <summary>Syncs and closes guest disk sessions, stopping their appliance.</summary>
[Cmdlet(VerbsCommon.Close, "GuestDisk", DefaultParameterSetName = "Disk", SupportsShouldProcess = true)]
public sealed class CloseGuestDiskCommand : GuestCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ParameterSetName = "Disk")]
    public GuestDisk[]? Disk { get; set; }

    /// <summary>Close every open session.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
        var disks = All.IsPresent ? GuestDiskRegistry.Mine() : Disk ?? new[] { ResolveDisk(null) };
        foreach (var d in disks)
        {
            // Closing ends the session: on a read-only disk every change made in it is discarded.
            if (!ShouldProcess($"GuestDisk {d.Id} ({string.Join(", ", d.Paths)})",
                d.ReadOnly ? "Close (changes made in this read-only session are discarded)" : "Close (sync changes to the image and stop the appliance)")) continue;
            try
            {
                WriteVerbose($"closing GuestDisk {d.Id}: syncing and stopping the appliance");
                try
                {
                    // Registry changes made on GuestRegistry drives go into their hives first.
                    if (!d.ReadOnly && d.Registry.Pending.Length > 0 && d.State == Engine.Session.GuestSessionState.Ready)
                        foreach (var f in Run(ct => d.Registry.CommitAsync(d, null, ct), d.Session))
                            WriteVerbose($"committed the registry changes to {f}");
                    // Shutdown syncs first; its failure (data may not be on disk) is reported as an error.
                    Run(ct => d.Session.ShutdownAsync(ct), d.Session);
                }
                finally
                {
                    Run(async _ => await d.Session.DisposeAsync().ConfigureAwait(false), d.Session);
                }
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "CloseFailed", d));
            }
            finally
            {
                GuestDiskRegistry.Remove(d);
                RemoveDrives(d);
            }
        }
    }

    /// <summary>GuestFs drives on a closed disk can do nothing more: they go with it.</summary>
    private void RemoveDrives(GuestDisk d)
    {
        try
        {
            foreach (var name in Provider.GuestFsDrives.RemoveDrivesOf(SessionState, d).Concat(Registry.GuestRegistryDrives.RemoveDrivesOf(SessionState, d)))
                WriteVerbose($"removed drive {name}: (it was on GuestDisk {d.Id})");
        }
        catch (Exception e)
        {
            WriteError(new ErrorRecord(e, "RemoveDriveFailed", ErrorCategory.InvalidOperation, d));
        }
    }
}
