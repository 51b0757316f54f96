using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Api;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>What Test-GuestPath checks for.</summary>
public enum GuestPathType { Any, Container, Leaf }

/// <summary>
/// Tells whether guest paths exist (true/false per path, in input order). Paths are checked
/// in pipelined batches of up to <see cref="BatchSize"/>: one lstat per path, all in flight
/// at once, so testing a thousand paths costs about one round trip, not a thousand.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "GuestPath", DefaultParameterSetName = "Path")]
[OutputType(typeof(bool))]
public sealed class TestGuestPathCommand : GuestPathCmdlet
{
    private const int BatchSize = 1024;
    private readonly List<(string Given, GuestDisk Disk, string[] Paths)> _queue = new();
    private int _queued;

    [Parameter]
    public GuestPathType PathType { get; set; } = GuestPathType.Any;

    protected override void ProcessRecord()
    {
        foreach (var item in ResolveGivenPaths(reading: true, errorWhenNoMatch: false))
        {
            _queue.Add(item);
            _queued += item.Paths.Length;
            if (_queued >= BatchSize) Flush();
        }
    }

    protected override void EndProcessing() => Flush();

    private void Flush()
    {
        if (_queue.Count == 0) return;
        var queue = _queue.ToArray();
        _queue.Clear();
        _queued = 0;
        // One batch per disk; the answers come out in the order the paths came in.
        var answers = new Dictionary<GuestDisk, (Engine.Protocol.BatchReply<GuestStatns?>[]? Replies, Exception? Error)>();
        foreach (var group in queue.GroupBy(q => q.Disk))
        {
            var paths = group.SelectMany(q => q.Paths).ToArray();
            try { answers[group.Key] = (Run(ct => group.Key.Session.LstatManyAsync(paths, ct), group.Key.Session), null); }
            catch (Exception e) when (e is not PipelineStoppedException && e is not OperationCanceledException) { answers[group.Key] = (null, e); }
        }
        var next = answers.Keys.ToDictionary(d => d, _ => 0);
        foreach (var (given, disk, paths) in queue)
        {
            var (replies, error) = answers[disk];
            int at = next[disk];
            next[disk] = at + paths.Length;
            if (replies is null)
            {
                WriteError(ToErrorRecord(error!, "TestPathFailed", given, reading: true));
                continue;
            }
            var mine = replies.AsSpan(at, paths.Length).ToArray();
            if (mine.FirstOrDefault(r => !r.Ok) is { Error: { } e } && !mine.Any(r => r.Ok && Fits(r.Value)))
            {
                WriteError(ToErrorRecord(e, "TestPathFailed", given, reading: true));
                continue;
            }
            WriteObject(mine.Any(r => r.Ok && Fits(r.Value)));
        }
    }

    private bool Fits(GuestStatns? st) => st is not null && PathType switch
    {
        GuestPathType.Container => GuestFileInfo.TypeFromMode(st.StMode) == GuestItemType.Directory,
        GuestPathType.Leaf => GuestFileInfo.TypeFromMode(st.StMode) != GuestItemType.Directory,
        _ => true,
    };
}
