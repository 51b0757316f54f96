using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.PowerShell.Commands;

/// <summary>One matching line, shaped like Select-String's MatchInfo.</summary>
public sealed class GuestMatchInfo
{
    /// <summary>The guest path of the file.</summary>
    public string Path { get; init; } = "";
    /// <summary>The file name without its directory.</summary>
    public string Filename => GuestPath.GetFileName(Path);
    /// <summary>1 for the first line of the file.</summary>
    public int LineNumber { get; init; }
    /// <summary>The matching line, without its line end.</summary>
    public string Line { get; init; } = "";
    /// <summary>The pattern that matched.</summary>
    public string Pattern { get; init; } = "";
    /// <summary>The Id of the GuestDisk the file is on.</summary>
    public int Disk { get; init; }

    /// <summary>path:line:text, as Select-String and grep -n print a match.</summary>
    public override string ToString() => $"{Path}:{LineNumber}:{Line}";
}

/// <summary>
/// Searches the content of guest files in the appliance (guestfsd's grep), the
/// way Select-String searches host files: only files that match are read back,
/// to number their matching lines.
/// </summary>
[Cmdlet(VerbsCommon.Select, "GuestString", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestMatchInfo))]
public sealed class SelectGuestStringCommand : GuestCmdlet
{
    /// <summary>What to look for: an extended regular expression (grep -E), or text with -SimpleMatch.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string[] Pattern { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>Search every regular file below the directories given (symbolic links are not followed, as grep -r).</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    /// <summary>The pattern is plain text, not a regular expression (grep -F).</summary>
    [Parameter]
    public SwitchParameter SimpleMatch { get; set; }

    /// <summary>Match case (by default, as Select-String, case is ignored).</summary>
    [Parameter]
    public SwitchParameter CaseSensitive { get; set; }

    /// <summary>Also search gzip-compressed files (zgrep).</summary>
    [Parameter]
    public SwitchParameter Compressed { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    protected override void ProcessRecord()
    {
        bool literal = ParameterSetName == "LiteralPath";
        foreach (var (given, disk, paths) in ExpandGivenPaths(literal ? LiteralPath : Path, Disk, literal, reading: true, errorWhenNoMatch: true))
        {
            foreach (var path in paths)
            {
                string[] files;
                try { files = FilesOf(disk, path); }
                catch (Exception e) when (e is not PipelineStoppedException)
                {
                    if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
                    WriteError(ToErrorRecord(e, e is GuestFsException { ErrnoName: "ENOENT" } ? "PathNotFound" : "SearchFailed", path, reading: true));
                    continue;
                }
                foreach (var file in files) Search(disk, file);
            }
        }
    }

    /// <summary>The regular files a path stands for: itself, or with -Recurse every file below a directory.</summary>
    private string[] FilesOf(GuestDisk disk, string path)
    {
        var s = disk.Session;
        var item = Run(ct => s.GetItemAsync(path, ct), s);
        if (item is null) throw new GuestFsException("lstatns", "ENOENT", $"{path}: No such file or directory");
        if (!item.IsDirectory) return item.ItemType == GuestItemType.File ? new[] { path } : Array.Empty<string>();
        if (!Recurse.IsPresent)
        {
            WriteError(new ErrorRecord(new System.IO.IOException($"'{path}' is a directory. Add -Recurse to search the files below it, or give files (for example {GuestPath.Combine(path, "*")})."),
                "PathIsDirectory", ErrorCategory.InvalidType, path));
            return Array.Empty<string>();
        }
        var tree = Run(ct => s.GetTreeAsync(path, cancellationToken: ct), s);
        return tree.Where(f => f.ItemType == GuestItemType.File).Select(f => f.FullName)
                   .OrderBy(f => f, StringComparer.Ordinal).ToArray();
    }

    private void Search(GuestDisk disk, string file)
    {
        var s = disk.Session;
        try
        {
            // The appliance does the search, one grep per pattern; only a file that
            // matches is read back, to number its lines.
            var hits = new List<(string Pattern, string[] Lines)>();
            foreach (var pattern in Pattern)
            {
                var found = Run(ct => s.GrepAsync(pattern, file, extended: !SimpleMatch.IsPresent, @fixed: SimpleMatch.IsPresent,
                    insensitive: !CaseSensitive.IsPresent, compressed: Compressed.IsPresent, cancellationToken: ct), s);
                if (found.Length > 0) hits.Add((pattern, found));
            }
            if (hits.Count == 0) return;
            if (Compressed.IsPresent)
            {
                // zgrep's lines are of the uncompressed text, which is not read back: no line numbers.
                foreach (var (pattern, found) in hits)
                    foreach (var l in found) WriteObject(new GuestMatchInfo { Path = file, LineNumber = 0, Line = l.TrimEnd('\r'), Pattern = pattern, Disk = disk.Id });
                return;
            }
            string[] lines = Run(ct => s.ReadLinesAsync(file, ct), s);
            var next = new int[hits.Count];
            for (int n = 0; n < lines.Length; n++)
            {
                string line = lines[n].TrimEnd('\r');
                string? matched = null;
                for (int p = 0; p < hits.Count; p++)
                {
                    // grep prints the matching lines in file order, and equal text matches equally.
                    if (next[p] < hits[p].Lines.Length && string.Equals(line, hits[p].Lines[next[p]].TrimEnd('\r'), StringComparison.Ordinal))
                    {
                        next[p]++;
                        matched ??= hits[p].Pattern;
                    }
                }
                // One object per line, as Select-String: the first pattern that matched it.
                if (matched is not null) WriteObject(new GuestMatchInfo { Path = file, LineNumber = n + 1, Line = line, Pattern = matched, Disk = disk.Id });
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            WriteError(ToErrorRecord(e, "SearchFailed", file, reading: true));
        }
    }
}
