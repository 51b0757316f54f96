using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Renames a guest item within its directory.</summary>
[Cmdlet(VerbsCommon.Rename, "GuestItem", SupportsShouldProcess = true)]
[OutputType(typeof(GuestFileInfo))]
public sealed class RenameGuestItemCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LiteralPath")]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string Path { get; set; } = "";

    /// <summary>The new name (a name only, not a path).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    public string NewName { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveLocation(Path, Disk, literal: true, out var given);
        var s = disk.Session;
        string src = GuestPath.Normalize(given);
        if (NewName.Contains('/') || NewName is "." or ".." || NewName.Length == 0)
        {
            WriteError(new ErrorRecord(new ArgumentException($"'{NewName}' is not a plain name. Rename-GuestItem only renames within the directory; use Move-GuestItem to move."),
                "NewNameNotAName", ErrorCategory.InvalidArgument, NewName));
            return;
        }
        if (!RequireWritable(disk, src)) return;
        string dest = GuestPath.Combine(GuestPath.GetDirectoryName(src), NewName);
        try
        {
            if (Run(ct => s.GetItemAsync(src, ct), s) is null)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot rename '{src}' because it does not exist."), "PathNotFound", ErrorCategory.ObjectNotFound, src));
                return;
            }
            var existing = Run(ct => s.GetItemAsync(dest, ct), s);
            if (existing is { IsDirectory: true })
            {
                // mv would move the item inside that directory, which is not a rename.
                WriteError(new ErrorRecord(new System.IO.IOException($"Cannot rename '{src}' to '{NewName}': a directory with that name exists, and -Force does not replace directories. Remove it first or choose another name."),
                    "DestinationExists", ErrorCategory.ResourceExists, src));
                return;
            }
            if (existing is not null && !Force.IsPresent)
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"Cannot rename '{src}' to '{NewName}': an item with that name exists. Use -Force to replace it."),
                    "DestinationExists", ErrorCategory.ResourceExists, src));
                return;
            }
            if (!ShouldProcess($"Item: {src} Destination: {dest}", "Rename guest item")) return;
            Run(ct => s.MvAsync(src, dest, ct), s);
            if (PassThru.IsPresent)
            {
                var item = Run(ct => s.GetItemAsync(dest, ct), s);
                if (item is not null) WriteObject(item);
            }
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "RenameItemFailed", src));
        }
    }
}
