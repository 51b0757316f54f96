using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Moves guest files or directories (into a directory, or to a new name).</summary>
[Cmdlet(VerbsCommon.Move, "GuestItem", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
[OutputType(typeof(GuestFileInfo))]
public sealed class MoveGuestItemCommand : GuestPathCmdlet
{
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string Destination { get; set; } = "";

    /// <summary>Replace an existing destination file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (_, disk, sources) in ResolveGivenPaths(reading: false, errorWhenNoMatch: false))
        {
            var s = disk.Session;
            var destDisk = ResolveLocationBeside(Destination, disk, literal: true, out var destination);
            if (destDisk != disk)
            {
                WriteError(new ErrorRecord(new InvalidOperationException($"'{Destination}' is on GuestDisk {destDisk.Id}, but the items are on GuestDisk {disk.Id}; Move-GuestItem moves within one disk."),
                    "CrossDiskMoveNotSupported", ErrorCategory.InvalidOperation, Destination));
                continue;
            }
            foreach (var src in sources)
            {
                if (!RequireWritable(disk, src)) continue;
                try
                {
                    var (dest, existing) = Run(ct => GuestItemOperations.MoveTargetAsync(s, src, GuestPath.Normalize(destination), ct), s);
                    if (GuestItemOperations.CheckReplace(existing, Force.IsPresent, "move", src, dest) is { } refused) { WriteError(refused); continue; }
                    if (!ShouldProcess($"Item: {src} Destination: {dest}", "Move guest item")) continue;
                    Run(ct => GuestItemOperations.MoveAsync(s, src, dest, ct), s);
                    if (PassThru.IsPresent)
                    {
                        var moved = Run(ct => s.GetItemAsync(dest, ct), s);
                        if (moved is not null) WriteObject(moved);
                    }
                }
                catch (Exception e)
                {
                    WriteError(ToErrorRecord(e, "MoveItemFailed", src));
                }
            }
        }
    }
}
