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
                    string dest = GuestPath.Normalize(destination);
                    var destItem = Run(ct => s.GetItemAsync(dest, ct), s);
                    if (destItem is { IsDirectory: true }) dest = GuestPath.Combine(dest, GuestPath.GetFileName(src));
                    var existing = destItem is { IsDirectory: true } ? Run(ct => s.GetItemAsync(dest, ct), s) : destItem;
                    if (existing is { IsDirectory: true })
                    {
                        WriteError(new ErrorRecord(new System.IO.IOException($"Cannot move '{src}' to '{dest}': a directory with that name exists there, and -Force does not replace directories."),
                            "DestinationExists", ErrorCategory.ResourceExists, src));
                        continue;
                    }
                    if (existing is not null && !Force.IsPresent)
                    {
                        WriteError(new ErrorRecord(new System.IO.IOException($"Cannot move '{src}' to '{dest}': the destination exists. Use -Force to replace it."),
                            "DestinationExists", ErrorCategory.ResourceExists, src));
                        continue;
                    }
                    if (!ShouldProcess($"Item: {src} Destination: {dest}", "Move guest item")) continue;
                    Run(ct => s.MvAsync(src, dest, ct), s);
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
