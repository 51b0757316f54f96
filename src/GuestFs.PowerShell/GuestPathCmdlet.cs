using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace GuestFs.PowerShell;

/// <summary>
/// Base of the cmdlets that act on existing guest paths: -Path (wildcards,
/// pipeline) and -LiteralPath (no wildcards; binds FullName of guest items),
/// as the FileSystem cmdlets have them, plus -Disk.
/// </summary>
public abstract class GuestPathCmdlet : GuestCmdlet
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

    /// <summary>
    /// Each value given, with its disk (a GuestFs drive path brings its own;
    /// otherwise -Disk or the only open one) and the guest paths it stands for
    /// (errors already written).
    /// </summary>
    protected IEnumerable<(string Given, GuestDisk Disk, string[] Paths)> ResolveGivenPaths(bool reading, bool errorWhenNoMatch)
    {
        bool literal = ParameterSetName == "LiteralPath";
        return ExpandGivenPaths(literal ? LiteralPath : Path, Disk, literal, reading, errorWhenNoMatch);
    }
}
