using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

/// <summary>
/// A path cmdlet that answers from pipelined batches: the paths it is given (as -Path,
/// -LiteralPath or pipeline input) are queued, up to <see cref="BatchSize"/> at a time, asked
/// for in one batch per disk (GuestSession.LstatManyAsync and friends), and answered in the
/// order they came in, each with its own result or error.
/// </summary>
public abstract class GuestPathBatchCmdlet<T> : GuestPathCmdlet
{
    private const int BatchSize = 1024;
    private readonly List<(string Given, GuestDisk Disk, string[] Paths)> _queue = new();
    private int _queued;

    /// <summary>The batch call for one disk's paths.</summary>
    protected abstract Task<BatchReply<T>[]> FetchAsync(GuestSession session, string[] paths, CancellationToken ct);

    /// <summary>Writes what one given value stands for, from the replies for its paths.</summary>
    protected abstract void Emit(string given, string[] paths, BatchReply<T>[] replies);

    /// <summary>The error id when the batch itself failed (the session died …).</summary>
    protected abstract string FailedErrorId { get; }

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
        var answers = new Dictionary<GuestDisk, (BatchReply<T>[]? Replies, Exception? Error)>();
        foreach (var group in queue.GroupBy(q => q.Disk))
        {
            var paths = group.SelectMany(q => q.Paths).ToArray();
            try { answers[group.Key] = (Run(ct => FetchAsync(group.Key.Session, paths, ct), group.Key.Session), null); }
            catch (Exception e) when (e is not PipelineStoppedException && e is not OperationCanceledException) { answers[group.Key] = (null, e); }
        }
        var next = answers.Keys.ToDictionary(d => d, _ => 0);
        foreach (var (given, disk, paths) in queue)
        {
            var (replies, error) = answers[disk];
            int at = next[disk];
            next[disk] = at + paths.Length;
            if (replies is null) WriteError(ToErrorRecord(error!, FailedErrorId, given, reading: true));
            else Emit(given, paths, replies.AsSpan(at, paths.Length).ToArray());
        }
    }
}
