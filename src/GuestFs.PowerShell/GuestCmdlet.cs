using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
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
public abstract partial class GuestCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();
    private readonly BlockingCollection<Action> _queue = new();

    /// <summary>Progress activity for the daemon's own progress messages.</summary>
    protected const int DaemonActivityId = ProgressActivity.Daemon;

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
        EventHandler<GuestMessageEventArgs>? onMessage = null;
        EventHandler<string>? onConsole = null;
        EventHandler<string>? onTrace = null;
        EventHandler<GuestProgressEventArgs>? onProgress = null;
        bool daemonProgressShown = false, slowShown = false;
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
            if (session.Options.Debug || WantsDebugLog())
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
                    // The console is a flood of lines: the Information stream (tag GuestFs.Appliance),
                    // where -Debug never turns it into one prompt per line.
                    Post(() => { foreach (var l in lines) WriteInformation(new InformationRecord("appliance: " + l, "GuestFs") { Tags = { "GuestFs", "GuestFs.Appliance" } }); });
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
            // Wake the pump the moment the work ends (a short call must not wait
            // for the poll interval; the poll is only a safety net).
            _ = task.ContinueWith(static (_, q) => { try { ((BlockingCollection<Action>)q!).Add(static () => { }); } catch (InvalidOperationException) { } },
                _queue, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            // A call that takes more than about 2 s (list_filesystems and inspection under TCG
            // take tens of seconds) shows a progress record with the elapsed time, unless the
            // daemon reports progress of its own.
            var started = System.Diagnostics.Stopwatch.StartNew();
            long shownAt = -1;
            while (!task.IsCompleted)
            {
                if (_queue.TryTake(out var a, 250)) a();
                long secs = (long)started.Elapsed.TotalSeconds;
                if (secs >= 2 && secs != shownAt && !daemonProgressShown && !task.IsCompleted)
                {
                    shownAt = secs;
                    slowShown = true;
                    WriteProgress(new ProgressRecord(ProgressActivity.SlowCall, MyInvocation.MyCommand.Name, $"waiting for the appliance: {secs} s elapsed"));
                }
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
            if (slowShown)
                WriteProgress(new ProgressRecord(ProgressActivity.SlowCall, MyInvocation.MyCommand.Name, "done") { RecordType = ProgressRecordType.Completed });
        }
    }

    protected void Run(Func<CancellationToken, Task> work, GuestSession? session = null) =>
        Run<bool>(async ct => { await work(ct).ConfigureAwait(false); return true; }, session);

    /// <summary>
    /// Whether the user asked for debug output: -Debug, or $DebugPreference set to
    /// anything but SilentlyContinue/Ignore (the way to log debug records in a
    /// script without PowerShell asking before each one, which it does for -Debug).
    /// </summary>
    protected bool WantsDebugLog()
    {
        if (MyInvocation.BoundParameters.TryGetValue("Debug", out var v) && v is SwitchParameter { IsPresent: true }) return true;
        var pref = GetVariableValue("DebugPreference");
        if (pref is PSObject po) pref = po.BaseObject;
        return pref is ActionPreference a ? a is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore)
            : pref is string str && Enum.TryParse<ActionPreference>(str, true, out var a2) && a2 is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
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
        var all = GuestDiskRegistry.Mine();
        if (all.Length == 1) return all[0];
        if (all.Length == 0)
        {
            var others = GuestDiskRegistry.All();
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(others.Length == 0
                ? "No guest disk is open. Open one first: Open-GuestDisk -Path <image>"
                : $"No guest disk was opened in this runspace (other runspaces have {string.Join(", ", Array.ConvertAll(others, d => "GuestDisk " + d.Id))}); open one here, or pass one with -Disk (Get-GuestDisk -Id {others[0].Id})"),
                "NoGuestDiskOpen", ErrorCategory.InvalidOperation, null));
        }
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
    /// Whether a path value is on a GuestFs drive: <c>vm:/etc/hosts</c>, the
    /// PSPath of a drive item (<c>GuestFs\GuestFs::vm:/etc/hosts</c>), or a
    /// relative path while the current location is on a GuestFs drive. Gives
    /// the drive and the absolute guest path (wildcards kept unless literal).
    /// A drive of another provider is an error: it cannot be a guest path.
    /// </summary>
    protected bool TryDrivePath(string value, bool literal, out Provider.GuestFsDriveInfo drive, out string guestPath) =>
        TryDrivePath(value, literal, out drive, out guestPath, out _);

    private bool TryDrivePath(string value, bool literal, out Provider.GuestFsDriveInfo drive, out string guestPath, out bool fromLocation)
    {
        drive = null!;
        guestPath = "";
        fromLocation = false;
        string v = value;
        int pq = v.IndexOf("::", StringComparison.Ordinal);
        if (pq > 0)
        {
            string provider = v.Substring(0, pq);
            if (!string.Equals(provider, Provider.GuestFsProvider.ProviderName, StringComparison.OrdinalIgnoreCase) &&
                !provider.EndsWith("\\" + Provider.GuestFsProvider.ProviderName, StringComparison.OrdinalIgnoreCase))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{value}' is a path of the {provider} provider, not a guest path."),
                    "NotAGuestPath", ErrorCategory.InvalidArgument, value));
            v = v.Substring(pq + 2);
        }
        string rooted;
        if (Provider.GuestFsPath.TrySplitDrive(v, out var name, out _))
        {
            PSDriveInfo? found = null;
            try { found = SessionState.Drive.Get(name); }
            catch (System.Management.Automation.DriveNotFoundException) { }
            if (found is null)
            {
                // "name:" that is no drive at all: a guest path (with a colon) as before.
                if (pq < 0) return false;
                ThrowTerminatingError(new ErrorRecord(new System.Management.Automation.DriveNotFoundException($"There is no GuestFs drive named '{name}' (in '{value}')."),
                    "GuestFsDriveNotFound", ErrorCategory.ObjectNotFound, value));
            }
            if (found is not Provider.GuestFsDriveInfo g)
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{value}' is on drive {found!.Name}: of the {found.Provider.Name} provider, not on a guest disk. Give a guest path, or a path on a GuestFs drive."),
                    "NotAGuestPath", ErrorCategory.InvalidArgument, value));
                return false;
            }
            drive = g;
            rooted = Provider.GuestFsPath.ToRootedPath(v);
        }
        else if (pq < 0 && !v.StartsWith('/') && !v.StartsWith('\\') && SessionState.Path.CurrentLocation.Drive is Provider.GuestFsDriveInfo here)
        {
            // Relative to the current location on a GuestFs drive.
            drive = here;
            fromLocation = true;
            rooted = GuestPath.Normalize(v, Provider.GuestFsPath.ToRootedPath(SessionState.Path.CurrentLocation.ProviderPath));
        }
        else if (pq > 0)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{value}' does not say which GuestFs drive it is on; write it as GuestFs::<drive>:/path."),
                "GuestFsPathWithoutDrive", ErrorCategory.InvalidArgument, value));
            return false;
        }
        else return false;
        if (drive.Disk.State != GuestSessionState.Ready) ThrowTerminatingError(Provider.GuestFsProvider.ClosedDriveError(drive));
        string root = drive.GuestRoot;
        // The root is literal text: escape it when the rest is a pattern.
        if (!literal && root != "/" && GuestPathResolver.HasWildcards(rooted)) root = WildcardPattern.Escape(root);
        guestPath = Provider.GuestFsPath.ToGuestPath(root, rooted);
        return true;
    }

    /// <summary>
    /// Whether a path value names something on a GuestFs drive (without failing
    /// for other providers' paths, which Copy-GuestItem takes as host paths).
    /// </summary>
    protected bool IsGuestFsPath(string value)
    {
        int pq = value.IndexOf("::", StringComparison.Ordinal);
        if (pq > 0)
        {
            string provider = value.Substring(0, pq);
            return string.Equals(provider, Provider.GuestFsProvider.ProviderName, StringComparison.OrdinalIgnoreCase) ||
                   provider.EndsWith("\\" + Provider.GuestFsProvider.ProviderName, StringComparison.OrdinalIgnoreCase);
        }
        if (Provider.GuestFsPath.TrySplitDrive(value, out var name, out _))
        {
            try { return SessionState.Drive.Get(name) is Provider.GuestFsDriveInfo; }
            catch (System.Management.Automation.DriveNotFoundException) { return false; }
        }
        return !value.StartsWith('/') && !value.StartsWith('\\') && SessionState.Path.CurrentLocation.Drive is Provider.GuestFsDriveInfo;
    }

    /// <summary>
    /// The disk and guest path a path parameter value names: a GuestFs drive
    /// path supplies its own disk (and must agree with -Disk when both are
    /// given); anything else is a guest path on <see cref="ResolveDisk"/>.
    /// </summary>
    protected GuestDisk ResolveLocation(string value, GuestDisk? disk, bool literal, out string guestPath)
    {
        if (TryDrivePath(value, literal, out var drive, out guestPath, out bool fromLocation) && !(fromLocation && disk is not null && disk != drive.Disk))
        {
            if (disk is not null && disk != drive.Disk)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{value}' is on drive {drive.Name}: (GuestDisk {drive.Disk.Id}), but -Disk names GuestDisk {disk.Id}. Leave out -Disk, or give a plain guest path."),
                    "DiskDoesNotMatchDrive", ErrorCategory.InvalidArgument, value));
            return drive.Disk;
        }
        guestPath = value;
        var resolved = ResolveDisk(disk);
        if (WindowsPath.Applies(resolved, value)) guestPath = ToWindowsGuestPath(resolved, value, literal);
        return resolved;
    }

    /// <summary>A C:\… path on a disk opened with -Inspect on a Windows guest, as a guest path (see WindowsPath).</summary>
    protected string ToWindowsGuestPath(GuestDisk disk, string value, bool literal)
    {
        try { return Run(ct => WindowsPath.ToGuestPathAsync(disk, value, literal, ct), disk.Session); }
        catch (WindowsPathException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, e.ErrorId, e.Category, value));
            throw;
        }
    }

    /// <summary>
    /// A second path of a command (a destination): a GuestFs drive path brings
    /// its own disk, anything else is a guest path on <paramref name="sameDisk"/>.
    /// </summary>
    protected GuestDisk ResolveLocationBeside(string value, GuestDisk sameDisk, bool literal, out string guestPath)
    {
        if (TryDrivePath(value, literal, out var drive, out guestPath, out bool fromLocation) && !(fromLocation && drive.Disk != sameDisk))
            return drive.Disk;
        guestPath = WindowsPath.Applies(sameDisk, value) ? ToWindowsGuestPath(sameDisk, value, literal) : value;
        return sameDisk;
    }

    /// <summary>
    /// Each path value with its disk and the guest paths it stands for
    /// (drive paths resolved, wildcards expanded; errors already written).
    /// </summary>
    protected IEnumerable<(string Given, GuestDisk Disk, string[] Paths)> ExpandGivenPaths(IEnumerable<string> values, GuestDisk? disk, bool literal, bool reading, bool errorWhenNoMatch)
    {
        foreach (var value in values)
        {
            var d = ResolveLocation(value, disk, literal, out var path);
            yield return (value, d, ExpandGuestPath(d, path, literal, reading, errorWhenNoMatch));
        }
    }

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
        if (Translate(e, errorId, target, reading) is { } said) return said;
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
            GuestFs.Engine.Launch.DriveSourceException => ErrorCategory.ConnectionError,
            IOException => reading ? ErrorCategory.ReadError : ErrorCategory.WriteError,
            InvalidOperationException => ErrorCategory.InvalidOperation,
            _ => ErrorCategory.NotSpecified,
        };
        return new ErrorRecord(e, errorId, category, target);
    }

    /// <summary>
    /// Daemon messages a user meets in everyday work, said in PowerShell's terms
    /// (with the next step); the daemon's text stays in the inner exception.
    /// </summary>
    private static ErrorRecord? Translate(Exception e, string errorId, object? target, bool reading)
    {
        // qemu's image locking: another process (a VM, another session) has the image open for writing.
        if (IsImageLock(e))
            return new ErrorRecord(new IOException(
                $"The image '{target}' is in use: another process (a running VM, or another GuestFs session opened with -Writable) holds its write lock. Close or stop that first, then open the image again.", e),
                "ImageLocked", ErrorCategory.ResourceBusy, target);
        if (e is not GuestFsException g) return null;
        // "lstatns_stub: you must call 'mount' first to mount the root filesystem" (and the
        // same from every procedure that needs a mounted root: ls, cat, internal_lstatnslist …).
        if (g.DaemonMessage.Contains("you must call 'mount' first", StringComparison.Ordinal))
            return new ErrorRecord(new InvalidOperationException(
                $"Nothing is mounted on /, so '{target}' cannot be reached: run Mount-GuestFs <device> / (Get-GuestFileSystem lists the devices), or open the disk with Open-GuestDisk -Inspect.", g),
                "NothingMounted", ErrorCategory.InvalidOperation, target);
        string what = target is null ? "the guest item" : $"'{target}'";
        // A daemon built without a feature ("… is not available in this build of libguestfs").
        var feature = System.Text.RegularExpressions.Regex.Match(g.DaemonMessage, "feature '([^']+)' is not available");
        if (feature.Success)
            return new ErrorRecord(new GuestFsException(g,
                $"The appliance has no '{feature.Groups[1].Value}' support, so {what} cannot be handled this way. Invoke-GuestFsApi feature_available -groups {feature.Groups[1].Value} tells whether an appliance has it."),
                "FeatureNotAvailable", ErrorCategory.NotImplemented, target);
        string? said = g.ErrnoName switch
        {
            "EROFS" => $"{what} is on a filesystem mounted read-only. To change it, open the disk with -Writable and mount the filesystem without -ReadOnly (Mount-GuestFs).",
            "ENOSPC" => $"No space is left on the guest filesystem that holds {what}. Get-GuestDiskUsage shows the free space of each filesystem.",
            "EDQUOT" => $"A disk quota of the guest filesystem that holds {what} is used up.",
            "EISDIR" => $"{what} is a directory, and this needs a file. Get-GuestChildItem lists a directory.",
            "ENOTDIR" => $"A part of the path {what} is not a directory. Check the path (Get-GuestItem shows what each part is).",
            "ENOTEMPTY" => $"The directory {what} is not empty. Use -Recurse to remove it with everything in it.",
            "EACCES" or "EPERM" => $"The guest filesystem refused the operation on {what} (permission denied, or an immutable or append-only item).",
            _ => null,
        };
        // Internal procedures (internal_lstatnslist …) are no names a user should have to read.
        if (said is null && g.Procedure.StartsWith("internal_", StringComparison.Ordinal))
            said = target is null ? g.DaemonMessage : $"{target}: {g.DaemonMessage}";
        if (said is null) return null;
        return new ErrorRecord(new GuestFsException(g, said), errorId, CategoryForErrno(g.ErrnoName, reading), target);
    }

    /// <summary>qemu refused an image another process holds for writing (warm: DriveInUseException; cold: the console says so).</summary>
    private static bool IsImageLock(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is DriveInUseException) return true;
            if (x is GuestFsLaunchException l && (l.ConsoleTail.Contains("\"write\" lock", StringComparison.Ordinal)
                || l.Message.Contains("holds its write lock", StringComparison.Ordinal)
                || l.Message.Contains("another process using the image", StringComparison.OrdinalIgnoreCase)))
                return true;
        }
        return false;
    }

    internal static ErrorCategory CategoryForErrno(string errno, bool reading) => errno switch
    {
        "ENOENT" or "ENOTDIR" => ErrorCategory.ObjectNotFound,
        "EACCES" or "EPERM" => ErrorCategory.PermissionDenied,
        "EINVAL" => ErrorCategory.InvalidArgument,
        "EEXIST" or "ENOTEMPTY" => ErrorCategory.ResourceExists,
        "EBUSY" => ErrorCategory.ResourceBusy,
        // A read-only filesystem is a failed write (STYLE.md; the FileSystem provider's IOException is a WriteError too).
        "EROFS" or "ENOSPC" or "EIO" or "EDQUOT" or "EFBIG" => reading ? ErrorCategory.ReadError : ErrorCategory.WriteError,
        "ENOTSUP" or "EOPNOTSUPP" or "ENOSYS" => ErrorCategory.NotImplemented,
        "EISDIR" => ErrorCategory.InvalidType,
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
