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
                if (path == "/")
                {
                    WriteError(new ErrorRecord(new InvalidOperationException("Refusing to remove the guest root '/'. Remove the items in it instead (Get-GuestChildItem / -Force | Remove-GuestItem -Recurse)"),
                        "RemoveRootRefused", ErrorCategory.InvalidOperation, path));
                    continue;
                }
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
                    if (item.IsDirectory && !Recurse.IsPresent)
                    {
                        var children = Run(ct => s.LsAsync(path, ct), s);
                        if (children.Length > 0)
                        {
                            WriteError(new ErrorRecord(new System.IO.IOException($"The guest directory '{path}' is not empty. Use -Recurse to remove it and everything in it."),
                                "DirectoryNotEmpty", ErrorCategory.WriteError, path));
                            continue;
                        }
                    }
                    if (!ShouldProcess(path, item.IsDirectory ? "Remove guest directory" : "Remove guest file")) continue;
                    if (item.IsDirectory) Run(ct => Recurse.IsPresent ? s.RmRfAsync(path, ct) : s.RmdirAsync(path, ct), s);
                    else Run(ct => s.RmAsync(path, ct), s);
                }
                catch (Exception e)
                {
                    WriteError(ToErrorRecord(e, "RemoveItemFailed", path));
                }
            }
        }
    }
}
