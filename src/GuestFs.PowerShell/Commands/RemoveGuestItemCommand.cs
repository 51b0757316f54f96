using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Deletes guest files, links and (with -Recurse) directory trees.</summary>
[Cmdlet(VerbsCommon.Remove, "GuestItem", DefaultParameterSetName = "Path", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveGuestItemCommand : GuestPathCmdlet
{
    /// <summary>Remove directories and everything in them.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var (_, disk, targets) in ResolveGivenPaths(reading: false, errorWhenNoMatch: false))
        {
            var s = disk.Session;
            foreach (var path in targets)
            {
                if (GuestItemOperations.CheckRemoveRoot(path, path) is { } root) { WriteError(root); continue; }
                if (!RequireWritable(disk, path)) continue;
                try
                {
                    var item = Run(ct => s.GetItemAsync(path, ct), s);
                    if (item is null)
                    {
                        WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot remove guest path '{path}' because it does not exist."),
                            "PathNotFound", ErrorCategory.ObjectNotFound, path));
                        continue;
                    }
                    if (Run(ct => GuestItemOperations.CheckRemoveAsync(s, item, path, Recurse.IsPresent, path, ct), s) is { } refused) { WriteError(refused); continue; }
                    if (!ShouldProcess(path, GuestItemOperations.RemoveAction(item))) continue;
                    Run(ct => GuestItemOperations.RemoveAsync(s, item, path, Recurse.IsPresent, ct), s);
                }
                catch (Exception e)
                {
                    WriteError(ToErrorRecord(e, "RemoveItemFailed", path));
                }
            }
        }
    }
}
