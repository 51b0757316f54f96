using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>What Test-GuestPath checks for.</summary>
public enum GuestPathType { Any, Container, Leaf }

/// <summary>Tells whether guest paths exist (true/false per path).</summary>
[Cmdlet(VerbsDiagnostic.Test, "GuestPath", DefaultParameterSetName = "Path")]
[OutputType(typeof(bool))]
public sealed class TestGuestPathCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    [Parameter]
    public GuestPathType PathType { get; set; } = GuestPathType.Any;

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        bool literal = ParameterSetName == "LiteralPath";
        foreach (var p in literal ? LiteralPath : Path)
        {
            try
            {
                bool ok;
                if (!literal && GuestPathResolver.HasWildcards(p))
                {
                    var matches = Run(ct => GuestPathResolver.ResolveAsync(disk.Session, p, ct), disk.Session);
                    ok = false;
                    foreach (var m in matches)
                        if (Fits(Run(ct => disk.Session.GetItemAsync(m, ct), disk.Session))) { ok = true; break; }
                }
                else
                {
                    ok = Fits(Run(ct => disk.Session.GetItemAsync(p, ct), disk.Session));
                }
                WriteObject(ok);
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "TestPathFailed", p, reading: true));
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
