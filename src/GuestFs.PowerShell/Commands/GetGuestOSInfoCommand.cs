using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Inspects a session's disks for installed operating systems (what virt-inspector reports).</summary>
/// <remarks>With -Path, inspects many images, each in its own session, -ThrottleLimit at a time.</remarks>
[Cmdlet(VerbsCommon.Get, "GuestOSInfo", DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestOSInfo))]
public sealed class GetGuestOSInfoCommand : FleetCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Disk")]
    public GuestDisk? Disk { get; set; }

    /// <summary>Also read each system's package database (deb and rpm).</summary>
    [Parameter]
    public SwitchParameter IncludeApplications { get; set; }

    protected override void EndProcessing()
    {
        if (!IsFleet) return;
        bool apps = IncludeApplications.IsPresent;
        RunFleet("Inspecting disk images", async (session, image, ct) =>
        {
            var systems = await session.GetOperatingSystemsAsync(apps,
                (os, e) => Post(() => WriteError(ApplicationsError(os, e))), ct).ConfigureAwait(false);
            if (systems.Length == 0)
                throw new FleetImageException("NoOperatingSystem", ErrorCategory.ObjectNotFound,
                    "no operating system was found (if the disk is encrypted, open it with Open-GuestDisk -Passphrase)");
            return systems;
        }, "InspectionFailed");
    }

    protected override void ProcessRecord()
    {
        if (IsFleet) { CollectImages(); return; }
        var disk = ResolveDisk(Disk);
        GuestOSInfo[] systems;
        try
        {
            systems = Run(ct => disk.Session.GetOperatingSystemsAsync(IncludeApplications.IsPresent,
                (os, e) => Post(() => WriteError(ApplicationsError(os, e))), ct), disk.Session);
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "InspectionFailed", disk, reading: true));
            return;
        }
        if (systems.Length == 0)
        {
            WriteError(new ErrorRecord(new InvalidOperationException(
                $"No operating system was found on the disks of GuestDisk {disk.Id}. Inspection looks for an installed system's root filesystem (for Linux /etc with /bin, /usr …); " +
                "if the disks are encrypted, open them with Open-GuestDisk -Passphrase."),
                "NoOperatingSystem", ErrorCategory.ObjectNotFound, disk));
            return;
        }
        foreach (var os in systems)
        {
            var o = PSObject.AsPSObject(os);
            o.Properties.Add(new PSNoteProperty("Disk", disk.Id));  // an Id, not the session: objects travel (JSON, CSV, remoting)
            WriteObject(o);
        }
    }

    private static ErrorRecord ApplicationsError(GuestOSInfo os, Exception e)
    {
        if (e is NotSupportedException)
            return new ErrorRecord(e, "ApplicationsNotImplemented", ErrorCategory.NotImplemented, os.Root);
        var rec = ToErrorRecord(e, "ListApplicationsFailed", os.Root, reading: true);
        rec.ErrorDetails = new ErrorDetails($"The applications of {os.ProductName} ({os.Root}) could not be listed: {e.Message}");
        return rec;
    }
}
