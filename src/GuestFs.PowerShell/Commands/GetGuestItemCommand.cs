using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Gets guest files or directories (lstat data, link targets).</summary>
[Cmdlet(VerbsCommon.Get, "GuestItem", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestFileInfo))]
public sealed class GetGuestItemCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

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
                if (literal || !GuestPathResolver.HasWildcards(p))
                {
                    var item = Run(ct => disk.Session.GetItemAsync(p, ct), disk.Session);
                    if (item is null)
                        WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find guest path '{p}' because it does not exist."),
                            "PathNotFound", ErrorCategory.ObjectNotFound, p));
                    else WriteObject(item);
                    continue;
                }
                // As with Get-Item, a wildcard that matches nothing returns nothing.
                var matches = Run(ct => GuestPathResolver.ResolveAsync(disk.Session, p, ct), disk.Session);
                foreach (var m in matches)
                {
                    var item = Run(ct => disk.Session.GetItemAsync(m, ct), disk.Session);
                    if (item is not null) WriteObject(item);
                }
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "GetItemFailed", p, reading: true));
            }
        }
    }
}
