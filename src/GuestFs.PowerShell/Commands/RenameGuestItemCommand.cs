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
        if (GuestItemOperations.CheckNewName(NewName, "Move-GuestItem") is { } badName) { WriteError(badName); return; }
        if (!RequireWritable(disk, src)) return;
        string dest = GuestItemOperations.RenameTarget(src, NewName);
        try
        {
            if (Run(ct => s.GetItemAsync(src, ct), s) is null)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot rename '{src}' because it does not exist."), "PathNotFound", ErrorCategory.ObjectNotFound, src));
                return;
            }
            var existing = Run(ct => s.GetItemAsync(dest, ct), s);
            if (GuestItemOperations.CheckReplace(existing, Force.IsPresent, "rename", src, dest) is { } refused) { WriteError(refused); return; }
            if (!ShouldProcess($"Item: {src} Destination: {dest}", "Rename guest item")) return;
            Run(ct => GuestItemOperations.MoveAsync(s, src, dest, ct), s);
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
