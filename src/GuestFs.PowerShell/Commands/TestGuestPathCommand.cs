using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>What Test-GuestPath checks for.</summary>
public enum GuestPathType { Any, Container, Leaf }

/// <summary>Tells whether guest paths exist (true/false per path).</summary>
[Cmdlet(VerbsDiagnostic.Test, "GuestPath", DefaultParameterSetName = "Path")]
[OutputType(typeof(bool))]
public sealed class TestGuestPathCommand : GuestPathCmdlet
{
    [Parameter]
    public GuestPathType PathType { get; set; } = GuestPathType.Any;

    protected override void ProcessRecord()
    {
        foreach (var (given, disk, paths) in ResolveGivenPaths(reading: true, errorWhenNoMatch: false))
        {
            try
            {
                bool ok = false;
                foreach (var path in paths)
                    if (Fits(Run(ct => disk.Session.GetItemAsync(path, ct), disk.Session))) { ok = true; break; }
                WriteObject(ok);
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "TestPathFailed", given, reading: true));
            }
        }
    }

    private bool Fits(GuestFileInfo? item) => item is not null && PathType switch
    {
        GuestPathType.Container => item.IsDirectory,
        GuestPathType.Leaf => !item.IsDirectory,
        _ => true,
    };
}
