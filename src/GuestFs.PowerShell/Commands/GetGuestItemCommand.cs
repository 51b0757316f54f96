using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Gets guest files or directories (lstat data, link targets).</summary>
[Cmdlet(VerbsCommon.Get, "GuestItem", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestFileInfo))]
public sealed class GetGuestItemCommand : GuestPathCmdlet
{
    protected override void ProcessRecord()
    {
        // As with Get-Item, a wildcard that matches nothing returns nothing; a literal
        // path that does not exist is a PathNotFound error.
        foreach (var (given, disk, paths) in ResolveGivenPaths(reading: true, errorWhenNoMatch: false))
        {
            foreach (var path in paths)
            {
                try
                {
                    var item = Run(ct => disk.Session.GetItemAsync(path, ct), disk.Session);
                    if (item is not null) WriteObject(item);
                    else if (!GuestPathResolver.HasWildcards(given) || ParameterSetName == "LiteralPath") WriteError(GuestPathNotFound(given));
                }
                catch (Exception e)
                {
                    WriteError(ToErrorRecord(e, "GetItemFailed", path, reading: true));
                }
            }
        }
    }
}
