using System;
using System.Management.Automation;
using GuestFs.Engine.Protocol;

namespace GuestFs.PowerShell.Commands;

/// <summary>A guest file's hash, shaped like Get-FileHash's output.</summary>
public sealed class GuestFileHash
{
    public string Algorithm { get; init; } = "";
    /// <summary>Upper-case hex, as Get-FileHash writes it.</summary>
    public string Hash { get; init; } = "";
    public string Path { get; init; } = "";
    /// <summary>The Id of the GuestDisk the file is on (-Disk takes it).</summary>
    public int Disk { get; init; }
}

/// <summary>
/// Get-FileHash for guest files: MD5, SHA1, SHA256 (default), SHA384, SHA512,
/// computed in the appliance. -Recurse hashes every regular file below a
/// directory in one daemon call (checksums_out), streamed.
/// </summary>
[Cmdlet(VerbsCommon.Get, "GuestFileHash", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestFileHash))]
public sealed class GetGuestFileHashCommand : GuestPathCmdlet
{
    [Parameter(Position = 1)]
    [ValidateSet("MD5", "SHA1", "SHA256", "SHA384", "SHA512", IgnoreCase = true)]
    public string Algorithm { get; set; } = "SHA256";

    /// <summary>Hash every regular file below the directories given, in one daemon call per directory.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    protected override void ProcessRecord()
    {
        string alg = Algorithm.ToUpperInvariant();
        string csum = alg.ToLowerInvariant();
        foreach (var (_, disk, targets) in ResolveGivenPaths(reading: true, errorWhenNoMatch: true))
        {
            var session = disk.Session;
            foreach (var path in targets)
            {
                try
                {
                    bool isDir = Run(ct => session.IsDirAsync(path, followsymlinks: true, cancellationToken: ct), session);
                    if (isDir && Recurse.IsPresent)
                    {
                        RunStreaming(session, ct => session.ChecksumTreeAsync(csum, path, ct),
                            x => WriteObject(new GuestFileHash { Algorithm = alg, Hash = x.Hash.ToUpperInvariant(), Path = x.Path, Disk = disk.Id }));
                        continue;
                    }
                    if (isDir)
                    {
                        if (MyInvocation.ExpectingInput && ParameterSetName == "LiteralPath")
                        {
                            WriteVerbose($"{path}: a directory; skipped (add -Recurse to hash the files below it)");
                            continue;
                        }
                        WriteError(new ErrorRecord(new ArgumentException($"'{path}' is a directory; add -Recurse to hash every file below it"),
                            "PathIsDirectory", ErrorCategory.InvalidArgument, path));
                        continue;
                    }
                    string h = Run(ct => session.ChecksumAsync(csum, path, ct), session);
                    WriteObject(new GuestFileHash { Algorithm = alg, Hash = h.ToUpperInvariant(), Path = path, Disk = disk.Id });
                }
                catch (Exception e) when (e is not PipelineStoppedException and not OperationCanceledException)
                {
                    WriteError(ToErrorRecord(e, "FileHashFailed", path, reading: true));
                }
            }
        }
    }
}
