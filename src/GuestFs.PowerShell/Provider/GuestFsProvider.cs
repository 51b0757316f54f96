using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Provider;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Provider;

/// <summary>
/// The GuestFs provider: a directory of an open guest disk as a PowerShell
/// drive, for Set-Location, Get-ChildItem, Get-Item, Test-Path, Resolve-Path,
/// the *-Content cmdlets, New-Item, Remove-Item, Rename-Item, Move-Item and
/// Copy-Item (within the guest), wildcards and tab completion.
///
/// Listings use the engine's batched calls (ls0 plus lstatnslist per 1000
/// names; find0 for -Recurse) and are kept in the disk's GuestItemCache, so the
/// per-path questions PowerShell asks while globbing cost no round trips.
/// Items are the GuestFileInfo objects Get-GuestChildItem emits.
///
/// PowerShell creates a new provider object for every call, so nothing is
/// kept here: the drive holds the disk, the disk holds the cache.
/// </summary>
[CmdletProvider(ProviderName, ProviderCapabilities.ShouldProcess | ProviderCapabilities.Filter)]
[OutputType(typeof(GuestFileInfo), ProviderCmdlet = ProviderCmdlet.GetChildItem)]
[OutputType(typeof(GuestFileInfo), ProviderCmdlet = ProviderCmdlet.GetItem)]
[OutputType(typeof(string), typeof(byte), ProviderCmdlet = ProviderCmdlet.GetContent)]
public sealed class GuestFsProvider : NavigationCmdletProvider, IContentCmdletProvider
{
    public const string ProviderName = "GuestFs";

    /// <summary>A path resolved to its drive and guest path.</summary>
    private readonly struct Target
    {
        public Target(GuestFsDriveInfo drive, string rooted)
        {
            Drive = drive;
            Rooted = rooted;
            Guest = GuestFsPath.ToGuestPath(drive.GuestRoot, rooted);
        }

        public GuestFsDriveInfo Drive { get; }
        /// <summary>The path inside the drive ("/etc").</summary>
        public string Rooted { get; }
        /// <summary>The absolute guest path ("/boot/grub" on a drive rooted at /boot).</summary>
        public string Guest { get; }
        public GuestDisk Disk => Drive.Disk;
        public GuestSession Session => Drive.Disk.Session;
        /// <summary>The drive-qualified path, as the user writes it and as items carry it.</summary>
        public string PsPath => Drive.Name + ":" + Rooted;
    }

    // ------------------------------------------------------------ drives

    protected override Collection<PSDriveInfo> InitializeDefaultDrives() => new();

    protected override object NewDriveDynamicParameters() => new GuestFsDriveParameters();

    protected override PSDriveInfo? NewDrive(PSDriveInfo drive)
    {
        // Mount-GuestFs -PSDrive builds the drive itself.
        if (drive is GuestFsDriveInfo made) return made;

        var p = DynamicParameters as GuestFsDriveParameters;
        GuestDisk? disk = p?.Disk;
        bool opening = p?.ImagePath is { Length: > 0 };
        string rootText = string.IsNullOrEmpty(drive.Root) ? "/" : drive.Root;
        string guestRoot;
        if (GuestFsPath.TrySplitDrive(GuestFsPath.Normalize(rootText), out var viaName, out _))
        {
            // A root that is a path on a GuestFs drive: given so, or made so by
            // PowerShell, which resolves -Root against the current location when
            // that is on a drive of the same provider (a plain "/" typed on vm:
            // arrives as "vm:/").
            if (FindDriveOrNull(viaName) is not { } via)
            {
                WriteError(new ErrorRecord(new ArgumentException($"The root '{rootText}' is not a guest directory. Give a guest path such as / or /boot, or a path on another GuestFs drive."),
                    "GuestFsRootInvalid", ErrorCategory.InvalidArgument, rootText));
                return null;
            }
            if (!opening && (disk is null || disk == via.Disk))
            {
                disk = via.Disk;
                guestRoot = GuestFsPath.ToGuestPath(via.GuestRoot, GuestFsPath.ToRootedPath(rootText));
            }
            else
            {
                // Another disk: the path is meant as a guest path there.
                guestRoot = GuestFsPath.ToRootedPath(rootText);
            }
        }
        else
        {
            guestRoot = GuestPath.Normalize(GuestFsPath.Normalize(rootText));
        }

        bool owns = false;
        if (opening)
        {
            if (p!.Disk is not null)
            {
                WriteError(new ErrorRecord(new ArgumentException("Give either -Disk (an open disk) or -ImagePath (images to open for this drive), not both."),
                    "GuestFsDiskAndImagePath", ErrorCategory.InvalidArgument, drive.Name));
                return null;
            }
            disk = OpenImages(p!, drive.Name);
            if (disk is null) return null;
            owns = true;
        }
        else if (p is not null && (p.Writable.IsPresent || p.Device is not null))
        {
            WriteError(new ErrorRecord(new ArgumentException("-Writable and -Device go with -ImagePath; a drive on an open disk (-Disk) uses that disk as it was opened and mounted."),
                "GuestFsImageOptionWithoutImage", ErrorCategory.InvalidArgument, drive.Name));
            return null;
        }
        else if (disk is null)
        {
            var all = GuestDiskRegistry.Mine();
            if (all.Length != 1)
            {
                WriteError(new ErrorRecord(new InvalidOperationException(all.Length == 0
                        ? "No guest disk is open. Open one first (Open-GuestDisk -Path <image>) or let the drive open it: New-PSDrive -PSProvider GuestFs -Name <name> -Root / -ImagePath <image>"
                        : $"{all.Length} guest disks are open (Ids {string.Join(", ", all.Select(d => d.Id))}); say which one with -Disk (for example -Disk (Get-GuestDisk -Id {all[0].Id}))"),
                    all.Length == 0 ? "NoGuestDiskOpen" : "AmbiguousGuestDisk", all.Length == 0 ? ErrorCategory.InvalidOperation : ErrorCategory.InvalidArgument, drive.Name));
                return null;
            }
            disk = all[0];
        }

        var result = new GuestFsDriveInfo(drive.Name, drive.Provider, disk, guestRoot,
            string.IsNullOrEmpty(drive.Description) ? $"GuestDisk {disk.Id}: {string.Join(", ", disk.Paths)}" : drive.Description,
            drive.Credential, owns);
        if (!CheckNewRoot(result))
        {
            if (owns) CloseOwnedDisk(result);
            return null;
        }
        return result;
    }

    /// <summary>The new drive's disk must be open and its root a directory (when something is mounted).</summary>
    private bool CheckNewRoot(GuestFsDriveInfo drive)
    {
        if (drive.Disk.State != GuestSessionState.Ready)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"GuestDisk {drive.Disk.Id} is not open (state {drive.Disk.State}); open the image again with Open-GuestDisk."),
                "GuestDiskClosed", ErrorCategory.InvalidOperation, drive.Disk));
            return false;
        }
        try
        {
            var mounts = Call(drive.Disk, ct => drive.Disk.Session.GetMountsAsync(ct));
            if (mounts.Length == 0)
            {
                WriteWarning($"Nothing is mounted on GuestDisk {drive.Disk.Id} yet: the drive '{drive.Name}' shows files once a filesystem is mounted (Mount-GuestFs).");
                return true;
            }
            if (!Call(drive.Disk, ct => drive.Disk.Cache.IsDirectoryAsync(drive.Disk.Session, drive.GuestRoot, ct)))
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"'{drive.GuestRoot}' is not a directory on GuestDisk {drive.Disk.Id}, so it cannot be the root of drive '{drive.Name}'. Check the path with Get-GuestChildItem."),
                    "GuestFsRootNotFound", ErrorCategory.ObjectNotFound, drive.GuestRoot));
                return false;
            }
            return true;
        }
        catch (Exception e) when (IsEngineError(e))
        {
            WriteError(GuestCmdlet.ToErrorRecord(e, "NewDriveFailed", drive.Name, reading: true));
            return false;
        }
    }

    /// <summary>New-PSDrive -ImagePath: opens the images in a session of the drive's own and mounts a filesystem at /.</summary>
    private GuestDisk? OpenImages(GuestFsDriveParameters p, string driveName)
    {
        var paths = new List<string>();
        foreach (var ip in p.ImagePath!)
        {
            try
            {
                var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(ip, out var provider);
                if (provider.Name != "FileSystem")
                    throw new ArgumentException($"'{ip}' is not a file system path; disk images must be files");
                paths.AddRange(resolved);
            }
            catch (Exception e) when (e is ItemNotFoundException or ArgumentException or DriveNotFoundException)
            {
                WriteError(new ErrorRecord(e, "DiskImageNotFound", ErrorCategory.ObjectNotFound, ip));
                return null;
            }
        }
        GuestSession session;
        try
        {
            session = new GuestSession(GuestSessionOptions.FromEnvironment());
        }
        catch (ArgumentException e)
        {
            WriteError(new ErrorRecord(e, "BadEnvironmentVariable", ErrorCategory.InvalidArgument, null));
            return null;
        }
        GuestDisk? disk = null;
        const int activityId = ProgressActivity.DriveOpen;
        string activity = $"Opening {string.Join(", ", paths.Select(System.IO.Path.GetFileName))} for drive {driveName}";
        var stages = new ConcurrentQueue<LaunchProgressEventArgs>();
        EventHandler<LaunchProgressEventArgs> onStage = (_, e) => stages.Enqueue(e);
        try
        {
            foreach (var path in paths)
                session.AddDrive(path, new DriveOptions { ReadOnly = !p.Writable.IsPresent });
            session.LaunchProgress += onStage;
            try
            {
                // The launch does real work before its first await: off this thread, so progress shows.
                Pump(session, ct => Task.Run(() => Done(session.LaunchAsync(ct)), ct),
                    () => { while (stages.TryDequeue(out var s)) WriteProgress(new ProgressRecord(activityId, activity, s.Description) { PercentComplete = s.PercentComplete }); });
            }
            finally
            {
                session.LaunchProgress -= onStage;
                WriteProgress(new ProgressRecord(activityId, activity, "done") { RecordType = ProgressRecordType.Completed });
            }
            disk = new GuestDisk(session, paths.ToArray(), !p.Writable.IsPresent, $"PSDrive {driveName}");
            GuestDiskRegistry.Add(disk);
            // The engine's one "find the guest and mount it" policy: -Device, else the operating
            // system, else the only filesystem.
            var mounted = Call(disk, ct => session.MountGuestAsync(null, p.Device, disk.ReadOnly, singleFileSystemWithoutOs: true, ct));
            string what = mounted.Root is null ? $"{mounted.Mounts[0].Device} mounted at /" : $"the operating system on {mounted.Root} mounted";
            WriteVerbose($"GuestDisk {disk.Id} opened for drive {driveName} ({(disk.ReadOnly ? "read-only" : "writable")}), {what}");
            return disk;
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            object target = paths.Count == 1 ? paths[0] : paths.ToArray();
            WriteError(e is GuestMountPolicyException mp
                ? new ErrorRecord(mp, mp.Reason, mp.Reason == "AmbiguousOperatingSystem" ? ErrorCategory.InvalidArgument : ErrorCategory.ObjectNotFound, target)
                : GuestCmdlet.ToErrorRecord(e, e is GuestFsLaunchException ? "LaunchFailed" : "NewDriveFailed", target));
            if (disk is not null) GuestDiskRegistry.Remove(disk);
            try { session.Dispose(); } catch (Exception) { }
            return null;
        }
        catch (PipelineStoppedException)
        {
            if (disk is not null) GuestDiskRegistry.Remove(disk);
            try { session.Dispose(); } catch (Exception) { }
            throw;
        }
    }

    protected override PSDriveInfo RemoveDrive(PSDriveInfo drive)
    {
        if (drive is GuestFsDriveInfo { OwnsDisk: true } g) CloseOwnedDisk(g);
        return drive;
    }

    /// <summary>Syncs and closes the disk a drive opened for itself (-ImagePath).</summary>
    private void CloseOwnedDisk(GuestFsDriveInfo drive)
    {
        var disk = drive.Disk;
        if (disk.State == GuestSessionState.Closed) { GuestDiskRegistry.Remove(disk); return; }
        try
        {
            WriteVerbose($"closing GuestDisk {disk.Id}, which drive '{drive.Name}' opened");
            if (disk.State == GuestSessionState.Ready) Call(disk, ct => disk.Session.ShutdownAsync(ct));
        }
        catch (Exception e) when (IsEngineError(e))
        {
            WriteError(GuestCmdlet.ToErrorRecord(e, "CloseFailed", disk));
        }
        finally
        {
            disk.Session.Dispose();
            GuestDiskRegistry.Remove(disk);
        }
    }

    // ------------------------------------------------------------ paths

    protected override bool IsValidPath(string path) => path is not null && path.IndexOf('\0') < 0;

    protected override string MakePath(string parent, string child) => GuestFsPath.MakePath(parent, child);

    protected override string GetParentPath(string path, string root) => GuestFsPath.GetParentPath(path, root);

    protected override string GetChildName(string path) => GuestFsPath.GetChildName(path);

    protected override string NormalizeRelativePath(string path, string basePath) => GuestFsPath.MakeRelative(path, basePath);

    private GuestFsDriveInfo? FindDriveOrNull(string name)
    {
        if (PSDriveInfo is GuestFsDriveInfo current && string.Equals(current.Name, name, StringComparison.OrdinalIgnoreCase)) return current;
        try { return SessionState.Drive.Get(name) as GuestFsDriveInfo; }
        catch (DriveNotFoundException) { return null; }
    }

    /// <summary>
    /// The drive and guest path a provider path names. Stops with a clear error
    /// when there is no such drive or its disk has been closed.
    /// </summary>
    private Target Resolve(string path)
    {
        string n = GuestFsPath.Normalize(path);
        GuestFsDriveInfo? drive;
        string rooted;
        if (GuestFsPath.TrySplitDrive(n, out var name, out _))
        {
            drive = FindDriveOrNull(name);
            if (drive is null)
                ThrowTerminatingError(new ErrorRecord(new DriveNotFoundException($"There is no GuestFs drive named '{name}' (for '{path}'). Get-PSDrive -PSProvider GuestFs lists them."),
                    "GuestFsDriveNotFound", ErrorCategory.ObjectNotFound, path));
            rooted = GuestFsPath.ToRootedPath(n);
        }
        else
        {
            // Only a provider-qualified path typed without a drive gets here.
            drive = PSDriveInfo as GuestFsDriveInfo;
            if (drive is null)
            {
                var all = SessionState.Drive.GetAllForProvider(ProviderInfo.Name).OfType<GuestFsDriveInfo>().ToArray();
                if (all.Length == 1) drive = all[0];
                else
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{path}' does not say which GuestFs drive it is on. Write it with the drive, for example GuestFs::vm:/etc/hosts or vm:/etc/hosts."),
                        "GuestFsPathWithoutDrive", ErrorCategory.InvalidArgument, path));
            }
            rooted = GuestFsPath.ToRootedPath(n);
        }
        RequireOpen(drive!);
        if (drive!.IgnoreCase && rooted != "/" && !WildcardPattern.ContainsWildcardCharacters(rooted))
            rooted = WithGuestSpelling(drive, rooted);
        return new Target(drive!, rooted);
    }

    /// <summary>
    /// A path on a Windows letter drive with the guest's own spelling (the daemon's
    /// case_sensitive_path, as NTFS resolves names); a path whose directories do not exist
    /// stays as given, and the call that follows says what is missing.
    /// </summary>
    private string WithGuestSpelling(GuestFsDriveInfo drive, string rooted)
    {
        string guest = GuestFsPath.ToGuestPath(drive.GuestRoot, rooted);
        try
        {
            string real = Call(drive.Disk, ct => drive.Disk.Session.CaseSensitivePathAsync(guest, ct));
            if (drive.GuestRoot == "/") return real;
            if (real.StartsWith(drive.GuestRoot + "/", StringComparison.Ordinal)) return real.Substring(drive.GuestRoot.Length);
            return rooted;
        }
        catch (Exception e) when (IsEngineError(e)) { return rooted; }
    }

    /// <summary>The clear error for a drive whose disk is no longer usable.</summary>
    internal static ErrorRecord ClosedDriveError(GuestFsDriveInfo drive)
    {
        var disk = drive.Disk;
        string why = disk.State == GuestSessionState.Closed
            ? $"GuestDisk {disk.Id}, which has been closed"
            : $"GuestDisk {disk.Id}, whose appliance is no longer running (state {disk.State})";
        return new ErrorRecord(new InvalidOperationException(
                $"The GuestFs drive '{drive.Name}' belongs to {why}. Remove the drive (Remove-PSDrive {drive.Name}), open the image again with Open-GuestDisk, and create the drive again with New-PSDrive -PSProvider GuestFs."),
            "GuestDiskClosed", ErrorCategory.InvalidOperation, drive.Name + ":");
    }

    private void RequireOpen(GuestFsDriveInfo drive)
    {
        if (drive.Disk.State != GuestSessionState.Ready) ThrowTerminatingError(ClosedDriveError(drive));
    }

    // ------------------------------------------------------------ calls

    private static bool IsEngineError(Exception e) =>
        e is GuestFsException or GuestFsStateException or GuestFsLaunchException or System.IO.IOException
            or InvalidOperationException or ArgumentException or UnauthorizedAccessException or OperationCanceledException;

    /// <summary>
    /// Waits for engine work while this (pipeline) thread writes the session's
    /// warnings and verbose messages, and cancels it on Ctrl+C.
    /// </summary>
    private T Call<T>(GuestDisk disk, Func<CancellationToken, Task<T>> work) => Pump(disk.Session, work, null);

    private T Pump<T>(GuestSession session, Func<CancellationToken, Task<T>> work, Action? each)
    {
        var messages = new ConcurrentQueue<GuestMessageEventArgs>();
        EventHandler<GuestMessageEventArgs> onMessage = (_, e) => messages.Enqueue(e);
        session.Message += onMessage;
        using var cts = new CancellationTokenSource();
        void Flush()
        {
            each?.Invoke();
            while (messages.TryDequeue(out var m))
            {
                if (m.Level == MessageLevel.Warning) WriteWarning(m.Message);
                else if (m.Level == MessageLevel.Verbose) WriteVerbose(m.Message);
            }
        }
        try
        {
            // The engine is asynchronous all the way down (no blocking, no captured
            // context), so the work starts here; an answer from the item cache is
            // then already complete and costs no thread switch.
            var task = work(cts.Token);
            while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(50))
            {
                Flush();
                if (Stopping && !cts.IsCancellationRequested) cts.Cancel();
            }
            Flush();
            try { return task.GetAwaiter().GetResult(); }
            catch (OperationCanceledException) when (cts.IsCancellationRequested) { throw new PipelineStoppedException(); }
        }
        finally
        {
            session.Message -= onMessage;
        }
    }

    private void Call(GuestDisk disk, Func<CancellationToken, Task> work) => Call(disk, ct => Done(work(ct)));

    private static async Task<bool> Done(Task task)
    {
        await task.ConfigureAwait(false);
        return true;
    }

    private GuestFileInfo? Item(Target t) => Call(t.Disk, ct => t.Disk.Cache.GetItemAsync(t.Session, t.Guest, ct));

    private bool IsDirectory(Target t) => Call(t.Disk, ct => t.Disk.Cache.IsDirectoryAsync(t.Session, t.Guest, ct));

    /// <summary>Stops the command with the engine error mapped as the cmdlets map it.</summary>
    private void Fatal(Exception e, string errorId, Target t, bool reading)
    {
        if (e is PipelineStoppedException) throw e;
        ThrowTerminatingError(GuestCmdlet.ToErrorRecord(e, errorId, t.PsPath, reading));
    }

    private void Fail(Exception e, string errorId, Target t, bool reading = false) =>
        WriteError(GuestCmdlet.ToErrorRecord(e, errorId, t.PsPath, reading));

    private void NotFound(Target t) => WriteError(new ErrorRecord(
        new ItemNotFoundException($"Cannot find path '{t.PsPath}' because it does not exist."), "PathNotFound", ErrorCategory.ObjectNotFound, t.PsPath));

    /// <summary>Refuses a change on a read-only disk with the cmdlets' error.</summary>
    private bool Writable(Target t)
    {
        if (!t.Disk.ReadOnly) return true;
        WriteError(GuestCmdlet.ReadOnlyError(t.Disk, t.PsPath));
        return false;
    }

    /// <summary>Writes a guest item with the drive path PowerShell attaches as PSPath.</summary>
    private void WriteGuestItem(Target t, GuestFileInfo item) =>
        WriteItemObject(item, GuestFsPath.FromGuestPath(t.Drive.Name, t.Drive.GuestRoot, item.FullName) ?? t.PsPath, item.IsDirectory);

    // ------------------------------------------------------------ items

    protected override bool ItemExists(string path)
    {
        // PowerShell ignores whatever ItemExists throws (and then reports "cannot
        // find path"), so a drive whose disk was closed says why here.
        if (GuestFsPath.TrySplitDrive(GuestFsPath.Normalize(path), out var name, out _) &&
            FindDriveOrNull(name) is { } drive && drive.Disk.State != GuestSessionState.Ready)
        {
            WriteError(ClosedDriveError(drive));
            return false;
        }
        var t = Resolve(path);
        try { return Item(t) is not null; }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ItemExistsFailed", t, reading: true); return false; }
    }

    protected override bool IsItemContainer(string path)
    {
        var t = Resolve(path);
        try { return IsDirectory(t); }
        catch (Exception e) when (IsEngineError(e)) { Fatal(e, "IsItemContainerFailed", t, reading: true); return false; }
    }

    protected override void GetItem(string path)
    {
        var t = Resolve(path);
        try
        {
            if (Item(t) is { } item) WriteGuestItem(t, item);
            else NotFound(t);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "GetItemFailed", t, reading: true); }
    }

    private WildcardPattern? FilterPattern =>
        string.IsNullOrEmpty(Filter) ? null : new WildcardPattern(Filter, WildcardOptions.IgnoreCase);

    private bool Shown(GuestFileInfo e) => Force.IsPresent || !e.Name.StartsWith('.');

    /// <summary>Get-ChildItem -File, -Directory, -Hidden on a drive, as the FileSystem provider has them.</summary>
    protected override object GetChildItemsDynamicParameters(string path, bool recurse) => new GuestFsChildItemParameters();

    protected override object GetChildNamesDynamicParameters(string path) => new GuestFsChildItemParameters();

    /// <summary>Whether a listed entry is written: hidden (dot) files per -Force/-Hidden, then -File/-Directory.</summary>
    private bool Listed(GuestFileInfo e)
    {
        var p = DynamicParameters as GuestFsChildItemParameters;
        bool hidden = e.Name.StartsWith('.');
        if (p is { Hidden.IsPresent: true } ? !hidden : !Shown(e)) return false;
        if (p is { File.IsPresent: true } && e.IsDirectory) return false;
        if (p is { Directory.IsPresent: true } && !e.IsDirectory) return false;
        return true;
    }

    /// <summary>Whether -Recurse descends into a directory (hidden ones with -Force or -Hidden).</summary>
    private bool Descended(GuestFileInfo e) =>
        e.IsDirectory && (Shown(e) || DynamicParameters is GuestFsChildItemParameters { Hidden.IsPresent: true });

    protected override void GetChildItems(string path, bool recurse) => GetChildItems(path, recurse, uint.MaxValue);

    protected override void GetChildItems(string path, bool recurse, uint depth)
    {
        var t = Resolve(path);
        var filter = FilterPattern;
        try
        {
            var item = Item(t);
            if (item is null) { NotFound(t); return; }
            if (!IsDirectory(t))
            {
                if (filter is null || filter.IsMatch(item.Name)) WriteGuestItem(t, item);
                return;
            }
            var entries = recurse
                ? Call(t.Disk, ct => t.Disk.Cache.GetTreeAsync(t.Session, t.Guest, (int)Math.Min(depth, int.MaxValue), ct))
                : Call(t.Disk, ct => t.Disk.Cache.GetEntriesAsync(t.Session, t.Guest, ct));
            // A directory's entries, then each subdirectory's, as Get-ChildItem -Recurse does.
            var byDir = entries.GroupBy(e => e.DirectoryName, StringComparer.Ordinal)
                               .ToDictionary(g => g.Key, g => g.OrderBy(e => e.Name, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
            var stack = new Stack<string>();
            stack.Push(t.Guest);
            while (stack.Count > 0)
            {
                if (Stopping) throw new PipelineStoppedException();
                if (!byDir.TryGetValue(stack.Pop(), out var list)) continue;
                foreach (var e in list)
                    if (Listed(e) && (filter is null || filter.IsMatch(e.Name))) WriteGuestItem(t, e);
                foreach (var sub in list.Where(Descended).Reverse())
                    stack.Push(sub.FullName);
            }
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ListDirectoryFailed", t, reading: true); }
    }

    protected override void GetChildNames(string path, ReturnContainers returnContainers)
    {
        var t = Resolve(path);
        var filter = FilterPattern;
        try
        {
            if (!IsDirectory(t)) return;
            foreach (var e in Call(t.Disk, ct => t.Disk.Cache.GetEntriesAsync(t.Session, t.Guest, ct)))
            {
                if (!Listed(e) && !(returnContainers == ReturnContainers.ReturnAllContainers && Descended(e))) continue;
                bool matches = Listed(e) && (filter is null || filter.IsMatch(e.Name));
                if (matches || (returnContainers == ReturnContainers.ReturnAllContainers && e.IsDirectory))
                    WriteItemObject(e.Name, GuestFsPath.FromGuestPath(t.Drive.Name, t.Drive.GuestRoot, e.FullName) ?? t.PsPath, e.IsDirectory);
            }
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ListDirectoryFailed", t, reading: true); }
    }

    protected override bool HasChildItems(string path)
    {
        var t = Resolve(path);
        try { return IsDirectory(t) && Call(t.Disk, ct => t.Disk.Cache.GetEntriesAsync(t.Session, t.Guest, ct)).Length > 0; }
        catch (Exception e) when (IsEngineError(e)) { Fatal(e, "ListDirectoryFailed", t, reading: true); return false; }
    }

    // ------------------------------------------------------------ changes

    private static string? ItemKind(string? itemTypeName)
    {
        switch ((itemTypeName ?? "").Trim().ToLowerInvariant())
        {
            case "": case "file": return "File";
            case "directory": case "dir": case "container": return "Directory";
            case "symboliclink": case "symlink": case "link": return "SymbolicLink";
            default: return null;
        }
    }

    protected override void NewItem(string path, string itemTypeName, object newItemValue)
    {
        var t = Resolve(path);
        string? kind = ItemKind(itemTypeName);
        if (kind is null)
        {
            WriteError(new ErrorRecord(new ArgumentException($"A GuestFs drive can create a File, a Directory or a SymbolicLink, not '{itemTypeName}'."),
                "ItemTypeNotSupported", ErrorCategory.InvalidArgument, itemTypeName));
            return;
        }
        var kindValue = Enum.Parse<GuestFs.PowerShell.Commands.GuestNewItemType>(kind);
        if (GuestItemOperations.PrepareNew(kindValue, newItemValue, t.PsPath, out var plan) is { } invalid) { WriteError(invalid); return; }
        if (!ShouldProcess(t.PsPath, $"Create guest {kind}")) return;
        if (!Writable(t)) return;
        var s = t.Session;
        try
        {
            var existing = Item(t);
            var (keep, refused) = GuestItemOperations.CheckNewOverExisting(existing, kindValue, Force.IsPresent, t.PsPath, "Remove-Item");
            if (refused is not null) { WriteError(refused); return; }
            if (keep) { WriteGuestItem(t, existing!); return; }
            Call(t.Disk, ct => GuestItemOperations.CreateAsync(s, t.Guest, plan, replace: existing is not null, Force.IsPresent, ct));
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "NewItemFailed", t); return; }
        finally { t.Disk.Cache.Invalidate(); }
        try
        {
            if (Item(t) is { } created) WriteGuestItem(t, created);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "GetItemFailed", t, reading: true); }
    }

    protected override void RemoveItem(string path, bool recurse)
    {
        var t = Resolve(path);
        if (GuestItemOperations.CheckRemoveRoot(t.Guest, t.PsPath) is { } root) { WriteError(root); return; }
        try
        {
            var item = Item(t);
            if (item is null) { NotFound(t); return; }
            var s = t.Session;
            if (Call(t.Disk, ct => GuestItemOperations.CheckRemoveAsync(s, item, t.Guest, recurse, t.PsPath, ct)) is { } refused) { WriteError(refused); return; }
            if (!ShouldProcess(t.PsPath, GuestItemOperations.RemoveAction(item))) return;
            if (!Writable(t)) return;
            try { Call(t.Disk, ct => GuestItemOperations.RemoveAsync(s, item, t.Guest, recurse, ct)); }
            finally { t.Disk.Cache.Invalidate(); }
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "RemoveItemFailed", t); }
    }

    protected override void RenameItem(string path, string newName)
    {
        var t = Resolve(path);
        string name = GuestFsPath.Normalize(newName);
        if (name.Contains('/'))
        {
            // A path is accepted when it stays in the same directory, as Rename-Item allows.
            var asPath = GuestFsPath.TrySplitDrive(name, out _, out _) || name.StartsWith('/') ? Resolve(name) : new Target(t.Drive, GuestPath.Normalize(name, GuestPath.GetDirectoryName(t.Rooted)));
            if (asPath.Disk != t.Disk || GuestPath.GetDirectoryName(asPath.Guest) != GuestPath.GetDirectoryName(t.Guest))
            {
                WriteError(new ErrorRecord(new ArgumentException($"'{newName}' is not in the directory of '{t.PsPath}'. Rename-Item renames within the directory; use Move-Item to move."),
                    "NewNameNotAName", ErrorCategory.InvalidArgument, newName));
                return;
            }
            name = GuestPath.GetFileName(asPath.Guest);
        }
        if (GuestItemOperations.CheckNewName(name, "Move-Item") is { } badName) { WriteError(badName); return; }
        var dest = new Target(t.Drive, GuestItemOperations.RenameTarget(t.Rooted, name));
        try
        {
            if (Item(t) is null) { NotFound(t); return; }
            if (GuestItemOperations.CheckReplace(Item(dest), Force.IsPresent, "rename", t.PsPath, dest.PsPath) is { } refused) { WriteError(refused); return; }
            if (!ShouldProcess($"Item: {t.PsPath} Destination: {dest.PsPath}", "Rename guest item")) return;
            if (!Writable(t)) return;
            try { Call(t.Disk, ct => GuestItemOperations.MoveAsync(t.Session, t.Guest, dest.Guest, ct)); }
            finally { t.Disk.Cache.Invalidate(); }
            if (Item(dest) is { } renamed) WriteGuestItem(dest, renamed);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "RenameItemFailed", t); }
    }

    protected override void MoveItem(string path, string destination)
    {
        var t = Resolve(path);
        var d = Resolve(destination);
        if (d.Disk != t.Disk)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"'{t.PsPath}' and '{d.PsPath}' are on different guest disks (GuestDisk {t.Disk.Id} and {d.Disk.Id}); Move-Item moves within one disk. Copy with Copy-Item and remove the original instead."),
                "CrossDiskMoveNotSupported", ErrorCategory.InvalidOperation, t.PsPath));
            return;
        }
        try
        {
            var item = Item(t);
            if (item is null) { NotFound(t); return; }
            var (targetGuest, existing) = Call(t.Disk, ct => GuestItemOperations.MoveTargetAsync(t.Session, t.Guest, d.Guest, ct));
            var target = targetGuest == d.Guest ? d : new Target(d.Drive, GuestPath.Combine(d.Rooted, GuestPath.GetFileName(t.Guest)));
            if (GuestItemOperations.CheckReplace(existing, Force.IsPresent, "move", t.PsPath, target.PsPath) is { } refused) { WriteError(refused); return; }
            if (!ShouldProcess($"Item: {t.PsPath} Destination: {target.PsPath}", "Move guest item")) return;
            if (!Writable(t)) return;
            try { Call(t.Disk, ct => GuestItemOperations.MoveAsync(t.Session, t.Guest, target.Guest, ct)); }
            finally { t.Disk.Cache.Invalidate(); }
            if (Item(target) is { } moved) WriteGuestItem(target, moved);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "MoveItemFailed", t); }
    }

    protected override void CopyItem(string path, string copyPath, bool recurse)
    {
        var t = Resolve(path);
        var d = Resolve(copyPath);
        if (d.Disk != t.Disk)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"'{t.PsPath}' and '{d.PsPath}' are on different guest disks (GuestDisk {t.Disk.Id} and {d.Disk.Id}); Copy-Item copies within one disk. Copy through a host directory with Copy-GuestItem instead."),
                "CrossDiskCopyNotSupported", ErrorCategory.InvalidOperation, t.PsPath));
            return;
        }
        try
        {
            var item = Item(t);
            if (item is null) { NotFound(t); return; }
            var s = t.Session;
            var (targetGuest, existing) = Call(t.Disk, ct => GuestItemOperations.MoveTargetAsync(s, t.Guest, d.Guest, ct));
            var target = targetGuest == d.Guest ? d : new Target(d.Drive, GuestPath.Combine(d.Rooted, GuestPath.GetFileName(t.Guest)));
            if (GuestItemOperations.CheckCopy(item, t.Guest, target.Guest, t.PsPath, target.PsPath) is { } refused) { WriteError(refused); return; }
            if (!ShouldProcess($"Item: {t.PsPath} Destination: {target.PsPath}", GuestItemOperations.CopyAction(item, recurse))) return;
            if (!Writable(d)) return;
            try { Call(t.Disk, ct => GuestItemOperations.CopyAsync(s, item, t.Guest, target.Guest, existing, recurse, ct)); }
            finally { t.Disk.Cache.Invalidate(); }
            if (Item(target) is { } copied) WriteGuestItem(target, copied);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "CopyItemFailed", t); }
    }

    // ------------------------------------------------------------ content

    public IContentReader? GetContentReader(string path)
    {
        var t = Resolve(path);
        var p = DynamicParameters as GuestFsContentReaderParameters;
        System.Text.Encoding enc;
        try { enc = ContentEncoding.Resolve(p?.Encoding); }
        catch (ArgumentException e) { WriteError(new ErrorRecord(e, "UnknownEncoding", ErrorCategory.InvalidArgument, p?.Encoding)); return null; }
        try
        {
            var item = Item(t);
            if (item is null) { NotFound(t); return null; }
            if (IsDirectory(t))
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"'{t.PsPath}' is a directory; list it with Get-ChildItem."),
                    "ItemIsDirectory", ErrorCategory.InvalidType, t.PsPath));
                return null;
            }
            long size = item.ItemType == GuestItemType.SymbolicLink ? Call(t.Disk, ct => t.Session.FilesizeAsync(t.Guest, ct)) : item.Length;
            return new GuestContentReader(t.Session, t.Guest, size, enc, detectBom: p?.Encoding is null,
                raw: p?.Raw.IsPresent == true, bytes: p?.AsByteStream.IsPresent == true);
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ReadContentFailed", t, reading: true); return null; }
    }

    public object GetContentReaderDynamicParameters(string path) => new GuestFsContentReaderParameters();

    public IContentWriter? GetContentWriter(string path)
    {
        var t = Resolve(path);
        // Set-Content and Add-Content have asked ShouldProcess already.
        if (!Writable(t)) return null;
        var p = DynamicParameters as GuestFsContentWriterParameters;
        try
        {
            if (Item(t) is { IsDirectory: true })
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"'{t.PsPath}' is a directory, so it has no content to set."),
                    "ItemIsDirectory", ErrorCategory.InvalidType, t.PsPath));
                return null;
            }
            return new GuestContentWriter(t.Disk, t.Guest, p?.Encoding, p?.NoNewline.IsPresent == true, p?.AsByteStream.IsPresent == true);
        }
        catch (ArgumentException e) { WriteError(new ErrorRecord(e, "UnknownEncoding", ErrorCategory.InvalidArgument, p?.Encoding)); return null; }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "WriteContentFailed", t); return null; }
    }

    public object GetContentWriterDynamicParameters(string path) => new GuestFsContentWriterParameters();

    public void ClearContent(string path)
    {
        var t = Resolve(path);
        // Set-Content clears before it writes; its writer replaces the whole file
        // anyway (and reports a read-only disk), so the truncate is skipped then.
        if (DynamicParameters is GuestFsContentWriterParameters) return;
        if (!ShouldProcess(t.PsPath, "Clear content of guest file")) return;
        if (!Writable(t)) return;
        try
        {
            if (Item(t) is { IsDirectory: true })
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"'{t.PsPath}' is a directory, so it has no content to clear."),
                    "ItemIsDirectory", ErrorCategory.InvalidType, t.PsPath));
                return;
            }
            try { Call(t.Disk, ct => t.Session.TruncateAsync(t.Guest, ct)); }
            finally { t.Disk.Cache.Invalidate(); }
        }
        catch (Exception e) when (IsEngineError(e)) { Fail(e, "ClearContentFailed", t); }
    }

    public object? ClearContentDynamicParameters(string path) => null;
}
