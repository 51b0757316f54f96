using System;
using System.Collections.Concurrent;
using System.IO;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

/// <summary>
/// Base of every GuestFs cmdlet. Engine work runs on the thread pool; engine
/// events (progress, verbose, debug, appliance console) are queued and written
/// from the pipeline thread while it waits, because PowerShell's Write*
/// methods work only there. Ctrl+C (StopProcessing) cancels the token that
/// every engine call receives.
/// </summary>
public abstract class GuestCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();
    private readonly BlockingCollection<Action> _queue = new();

    /// <summary>Progress activity for the daemon's own progress messages.</summary>
    protected const int DaemonActivityId = 0x6f0;

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline stops.</summary>
    protected CancellationToken StopToken => _stop.Token;

    protected override void StopProcessing()
    {
        try { _stop.Cancel(); } catch (ObjectDisposedException) { }
        base.StopProcessing();
    }

    /// <summary>Queues an action to run on the pipeline thread (safe from any thread).</summary>
    protected void Post(Action action)
    {
        try { _queue.Add(action); } catch (InvalidOperationException) { }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the thread pool and pumps queued writes on
    /// this thread until it finishes. Exceptions come back unwrapped.
    /// </summary>
    protected T Run<T>(Func<CancellationToken, Task<T>> work, GuestSession? session = null)
    {
        RelaxDebugPrompt();
        EventHandler<GuestMessageEventArgs>? onMessage = null;
        EventHandler<string>? onConsole = null;
        EventHandler<string>? onTrace = null;
        EventHandler<GuestProgressEventArgs>? onProgress = null;
        bool daemonProgressShown = false;
        if (session is not null)
        {
            onMessage = (_, e) => Post(() =>
            {
                switch (e.Level)
                {
                    case MessageLevel.Warning: WriteWarning(e.Message); break;
                    case MessageLevel.Verbose: WriteVerbose(e.Message); break;
                    default: WriteDebug(e.Message); break;
                }
            });
            session.Message += onMessage;
            if (session.Options.Debug || MyInvocation.BoundParameters.ContainsKey("Debug"))
            {
                // The console arrives in arbitrary chunks: write whole lines only.
                var pending = new System.Text.StringBuilder();
                onConsole = (_, text) =>
                {
                    string[] lines;
                    lock (pending)
                    {
                        pending.Append(text.Replace("\r", ""));
                        string all = pending.ToString();
                        int last = all.LastIndexOf('\n');
                        if (last < 0) return;
                        lines = all.Substring(0, last).Split('\n');
                        pending.Remove(0, last + 1);
                    }
                    Post(() => { foreach (var l in lines) WriteDebug("appliance: " + l); });
                };
                session.ApplianceLog += onConsole;
            }
            onTrace = (_, text) => Post(() => WriteVerbose("trace: " + text));
            session.TraceMessage += onTrace;
            // The daemon's own progress messages (long calls: uploads, downloads, mkfs,
            // checksums …): bytes/percent, or a pulse when it only knows it is busy.
            long last = 0;
            onProgress = (_, e) =>
            {
                long now = System.Diagnostics.Stopwatch.GetTimestamp();
                bool final = e.Position >= e.Total;
                if (!final && now - Interlocked.Read(ref last) < System.Diagnostics.Stopwatch.Frequency / 4) return;
                Interlocked.Exchange(ref last, now);
                var rec = new ProgressRecord(DaemonActivityId, $"guestfsd: {e.ProcedureName}",
                    e.IsPulse ? (final ? "done" : "working…") : $"{e.Position:N0} of {e.Total:N0}");
                if (!e.IsPulse && e.Total > 0) rec.PercentComplete = (int)Math.Min(100, e.Position * 100 / e.Total);
                if (final) rec.RecordType = ProgressRecordType.Completed;
                daemonProgressShown = true;
                Post(() => WriteProgress(rec));
            };
            session.Progress += onProgress;
        }
        try
        {
            var task = Task.Run(() => work(StopToken));
            while (!task.IsCompleted)
            {
                if (_queue.TryTake(out var a, 50)) a();
            }
            while (_queue.TryTake(out var rest)) rest();
            return task.GetAwaiter().GetResult();
        }
        finally
        {
            if (session is not null)
            {
                session.Message -= onMessage;
                if (onConsole is not null) session.ApplianceLog -= onConsole;
                session.TraceMessage -= onTrace;
                session.Progress -= onProgress;
            }
            while (_queue.TryTake(out var rest)) { try { rest(); } catch { } }
            if (daemonProgressShown)
                WriteProgress(new ProgressRecord(DaemonActivityId, "guestfsd", "done") { RecordType = ProgressRecordType.Completed });
        }
    }

    protected void Run(Func<CancellationToken, Task> work, GuestSession? session = null) =>
        Run<bool>(async ct => { await work(ct).ConfigureAwait(false); return true; }, session);

    private bool _debugRelaxed;

    /// <summary>
    /// For compiled cmdlets pwsh turns -Debug into "Inquire", so every engine
    /// debug line would stop and ask (and fail in non-interactive scripts).
    /// GuestFs's debug lines are a log, not breakpoints: when -Debug is given
    /// they are shown without prompting. If a future pwsh lacks the field this
    /// relies on, PowerShell's own behaviour stays.
    /// </summary>
    private void RelaxDebugPrompt()
    {
        if (_debugRelaxed) return;
        _debugRelaxed = true;
        if (!MyInvocation.BoundParameters.TryGetValue("Debug", out var v) || v is not SwitchParameter { IsPresent: true }) return;
        try
        {
            var rt = CommandRuntime;
            var t = rt.GetType();
            var pref = t.GetField("_debugPreference", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
            var set = t.GetField("_isDebugPreferenceSet", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
            if (pref?.FieldType == typeof(ActionPreference) && set?.FieldType == typeof(bool))
            {
                pref.SetValue(rt, ActionPreference.Continue);
                set.SetValue(rt, true);
            }
        }
        catch (Exception) { }
    }

    // ------------------------------------------------------------ sessions

    /// <summary>
    /// The session a cmdlet works on: the one given, or the only open one.
    /// None or several open without -Disk is a terminating error that says what to do.
    /// </summary>
    protected GuestDisk ResolveDisk(GuestDisk? disk)
    {
        if (disk is not null)
        {
            if (disk.State == GuestSessionState.Closed)
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                    $"GuestDisk {disk.Id} is closed; open the image again with Open-GuestDisk"),
                    "GuestDiskClosed", ErrorCategory.InvalidOperation, disk));
            return disk;
        }
        var all = GuestDiskRegistry.All();
        if (all.Length == 1) return all[0];
        if (all.Length == 0)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                "No guest disk is open. Open one first: Open-GuestDisk -Path <image>"),
                "NoGuestDiskOpen", ErrorCategory.InvalidOperation, null));
        ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
            $"{all.Length} guest disks are open (Ids {string.Join(", ", Array.ConvertAll(all, d => d.Id))}); say which one with -Disk (for example -Disk (Get-GuestDisk -Id {all[0].Id}))"),
            "AmbiguousGuestDisk", ErrorCategory.InvalidArgument, null));
        return null!;
    }

    /// <summary>
    /// Refuses a change on a read-only session with a message that says how to
    /// open it writable. Under -WhatIf nothing is changed anyway, so the cmdlet
    /// goes on to print its "What if" lines.
    /// </summary>
    protected bool RequireWritable(GuestDisk disk, object? target)
    {
        if (!disk.ReadOnly) return true;
        if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && w is SwitchParameter { IsPresent: true }) return true;
        WriteError(ReadOnlyError(disk, target));
        return false;
    }

    /// <summary>The refusal of a change on a read-only session (the cmdlets' and the provider's).</summary>
    internal static ErrorRecord ReadOnlyError(GuestDisk disk, object? target) => new(new InvalidOperationException(
            $"GuestDisk {disk.Id} is read-only, so '{target}' cannot be changed. Close it and open it again with Open-GuestDisk -Writable to make changes."),
            "GuestDiskReadOnly", ErrorCategory.InvalidOperation, target);

    // ------------------------------------------------------------ guest paths

    /// <summary>
    /// The guest paths one -Path/-LiteralPath value stands for: itself (normalised)
    /// when literal or free of wildcards, else every match in the guest. A failure
    /// is written as a ResolvePathFailed error; a pattern matching nothing as
    /// PathNotFound when <paramref name="errorWhenNoMatch"/>. Returns empty then.
    /// </summary>
    protected string[] ExpandGuestPath(GuestDisk disk, string path, bool literal, bool reading, bool errorWhenNoMatch)
    {
        if (literal || !GuestPathResolver.HasWildcards(path)) return new[] { GuestPath.Normalize(path) };
        string[] matches;
        try { matches = Run(ct => GuestPathResolver.ResolveAsync(disk.Session, path, ct), disk.Session); }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "ResolvePathFailed", path, reading));
            return Array.Empty<string>();
        }
        if (matches.Length == 0 && errorWhenNoMatch)
            WriteError(GuestPathNotFound(path));
        return matches;
    }

    /// <summary>The PathNotFound error for a guest path or pattern.</summary>
    protected static ErrorRecord GuestPathNotFound(string path) => new(
        new ItemNotFoundException($"Cannot find guest path '{path}' because it does not exist. Check the path and that the right filesystem is mounted (Get-GuestMount)."),
        "PathNotFound", ErrorCategory.ObjectNotFound, path);

    // ------------------------------------------------------------ errors

    /// <summary>Maps an engine exception to an ErrorRecord with a stable id and the right category.</summary>
    protected internal static ErrorRecord ToErrorRecord(Exception e, string errorId, object? target, bool reading = false)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } ag) e = ag.InnerExceptions[0];
        ErrorCategory category = e switch
        {
            GuestFsProtocolException => ErrorCategory.ConnectionError,
            GuestFsException g => CategoryForErrno(g.ErrnoName, reading),
            GuestFsLaunchException => ErrorCategory.OpenError,
            MissingDependencyException => ErrorCategory.NotInstalled,
            GuestFsStateException => ErrorCategory.InvalidOperation,
            OperationCanceledException => ErrorCategory.OperationStopped,
            FileNotFoundException or DirectoryNotFoundException => ErrorCategory.ObjectNotFound,
            UnauthorizedAccessException => ErrorCategory.PermissionDenied,
            ArgumentException => ErrorCategory.InvalidArgument,
            InvalidDataException => ErrorCategory.InvalidData,
            IOException => reading ? ErrorCategory.ReadError : ErrorCategory.WriteError,
            InvalidOperationException => ErrorCategory.InvalidOperation,
            _ => ErrorCategory.NotSpecified,
        };
        return new ErrorRecord(e, errorId, category, target);
    }

    internal static ErrorCategory CategoryForErrno(string errno, bool reading) => errno switch
    {
        "ENOENT" or "ENOTDIR" => ErrorCategory.ObjectNotFound,
        // A read-only filesystem refuses like a permission would (the issue's rule).
        "EACCES" or "EPERM" or "EROFS" => ErrorCategory.PermissionDenied,
        "EINVAL" => ErrorCategory.InvalidArgument,
        "EEXIST" or "ENOTEMPTY" => ErrorCategory.ResourceExists,
        "EBUSY" => ErrorCategory.ResourceBusy,
        "ENOSPC" or "EIO" or "EDQUOT" or "EFBIG" => reading ? ErrorCategory.ReadError : ErrorCategory.WriteError,
        "ENOTSUP" or "EOPNOTSUPP" or "ENOSYS" => ErrorCategory.NotImplemented,
        "EISDIR" => ErrorCategory.InvalidType,
        "" => ErrorCategory.InvalidOperation,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>A terminating error for failures that leave nothing to continue with.</summary>
    protected void Terminate(Exception e, string errorId, object? target) =>
        ThrowTerminatingError(ToErrorRecord(e, errorId, target));

    protected override void EndProcessing()
    {
        base.EndProcessing();
    }
}
