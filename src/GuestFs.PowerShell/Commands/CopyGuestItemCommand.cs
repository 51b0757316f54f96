using System;
using System.Linq;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Management.Automation;
using System.Threading;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// Copies files and directory trees between the host and a guest, or within
/// a guest. The parameter names say the direction:
///   -Path (guest) -Destination (host)          guest → host (default)
///   -LocalPath (host) -Destination (guest)      host → guest
///   -Path (guest) -Destination (guest) -WithinGuest
/// Trees (-Recurse) travel as a tar stream; progress shows bytes, percent and
/// time left; Ctrl+C cancels through the protocol and leaves no partial file
/// under the final name.
/// </summary>
[Cmdlet(VerbsCommon.Copy, "GuestItem", DefaultParameterSetName = "FromGuest", SupportsShouldProcess = true)]
[OutputType(typeof(GuestFileInfo), typeof(FileSystemInfo))]
public sealed class CopyGuestItemCommand : GuestCmdlet
{
    private const int ActivityId = ProgressActivity.Copy;

    /// <summary>
    /// Guest source paths (wildcards allowed). Guest items from Get-GuestChildItem
    /// bind here by value; host items (which carry PSPath) bind to -LocalPath.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "FromGuest", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "WithinGuest", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "FromImages")]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "FromUris")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Host source paths (wildcards allowed); binds Get-ChildItem output.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "ToGuest", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "HostPath")]
    [SupportsWildcards]
    public string[] LocalPath { get; set; } = Array.Empty<string>();

    /// <summary>Where to copy to: a host path (from guest) or a guest path (to guest, within guest).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    public string Destination { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = "WithinGuest")]
    public SwitchParameter WithinGuest { get; set; }

    /// <summary>Copy directories with everything in them.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    /// <summary>Also replace read-only host files; create missing destination parents in the guest.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "FromGuest")]
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "ToGuest")]
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "WithinGuest")]
    public GuestDisk? Disk { get; set; }

    /// <summary>
    /// Disk images to copy from, each opened read-only in its own session with its
    /// operating system mounted as guestfish -i does (wildcards allowed). Each
    /// image's items go to a directory named after the image under -Destination.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = "FromImages")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] ImagePath { get; set; } = Array.Empty<string>();

    /// <summary>
    /// Disks on servers to copy from (Open-GuestDisk -Uri's forms: nbd://, http(s)://,
    /// ssh://, iscsi:// …), each like an -ImagePath image; each disk's items go to a
    /// directory named after the last part of its URI path.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = "FromUris")]
    [ValidateNotNullOrEmpty]
    public string[] Uri { get; set; } = Array.Empty<string>();

    /// <summary>With -ImagePath or -Uri: how many images to copy from at once.</summary>
    [Parameter(ParameterSetName = "FromImages")]
    [Parameter(ParameterSetName = "FromUris")]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; }

    /// <summary>With -ImagePath or -Uri: the images' format, when known.</summary>
    [Parameter(ParameterSetName = "FromImages")]
    [Parameter(ParameterSetName = "FromUris")]
    [ValidatePattern("^[-_A-Za-z0-9]+$")]
    public string? Format { get; set; }

    private readonly List<string> _fleetImages = new();
    private readonly List<string> _fleetSources = new();

    private int _copiedToFixedName;

    /// <summary>
    /// Several sources copied to a destination that is not an existing directory
    /// would overwrite one another: the second one is refused.
    /// </summary>
    private bool SecondCopyToSameName(string target, bool destinationIsDirectory)
    {
        if (destinationIsDirectory) return false;
        if (++_copiedToFixedName == 1) return false;
        WriteError(new ErrorRecord(new IOException($"Several items are being copied to '{target}', which is not an existing directory, so they would overwrite each other. Create the directory first or copy one item at a time."),
            "DestinationNotADirectory", ErrorCategory.InvalidArgument, target));
        return true;
    }

    /// <summary>Host items as the FileSystem provider emits them (so the default view shows them properly).</summary>
    private void WriteHostItem(string path)
    {
        try { WriteObject(SessionState.InvokeProvider.Item.Get(new[] { WildcardPattern.Escape(path) }, false, true), true); }
        catch (Exception) { WriteObject(Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path)); }
    }

    private long _totalDone;
    private readonly Stopwatch _clock = new();
    private long _lastProgressTicks;

    protected override void BeginProcessing() => _clock.Start();

    /// <summary>
    /// Each source goes where the destination is: a host path (guest → host),
    /// or a guest path — plain (on the source's disk, or -Disk for host
    /// sources) or on a GuestFs drive (vm:/tmp, or relative while the current
    /// location is on one). Guest sources may be drive paths too, also when they
    /// arrive as -LocalPath (the PSPath of items from a GuestFs drive).
    /// </summary>
    protected override void ProcessRecord()
    {
        if (ParameterSetName is "FromImages" or "FromUris")
        {
            _fleetImages.AddRange(ParameterSetName == "FromUris" ? CheckedUris(Uri) : ResolveImages(ImagePath, literal: false));
            _fleetSources.AddRange(Path.Select(p => GuestPath.Normalize(p)));
            return;
        }
        try
        {
            if (ParameterSetName == "ToGuest")
            {
                foreach (var lp in LocalPath)
                {
                    if (IsGuestFsPath(lp))
                        foreach (var (_, disk, sources) in ExpandGivenPaths(new[] { lp }, Disk, literal: false, reading: true, errorWhenNoMatch: true))
                            foreach (var src in sources) CopyGuestSource(disk, src);
                    else
                        CopyHostSources(lp);
                }
            }
            else
            {
                foreach (var (_, disk, sources) in ExpandGivenPaths(Path, Disk, literal: false, reading: true, errorWhenNoMatch: true))
                    foreach (var src in sources) CopyGuestSource(disk, src);
            }
        }
        finally
        {
            WriteProgress(new ProgressRecord(ActivityId, "Copying", "done") { RecordType = ProgressRecordType.Completed });
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName is not ("FromImages" or "FromUris") || _fleetImages.Count == 0) return;
        string dest = GetUnresolvedProviderPathFromPSPath(Destination);
        var images = _fleetImages.Distinct(StringComparer.Ordinal).ToList();
        // One directory per image, named after it: two images of the same name would mix.
        var clash = images.GroupBy(ImageDirectoryName, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                $"The images {string.Join(" and ", clash.Select(Engine.Launch.DriveUri.Redact))} would be copied into the same directory '{clash.Key}' under {dest}; copy them in separate commands or rename one."),
                "ImageNamesClash", ErrorCategory.InvalidArgument, clash.Key));
            return;
        }
        var sources = _fleetSources.Distinct(StringComparer.Ordinal).ToArray();
        if (!ShouldProcess($"{string.Join(", ", sources)} from {images.Count} image(s) to {dest}", "Copy guest items out of disk images")) return;
        bool recurse = Recurse.IsPresent, passThru = PassThru.IsPresent;
        RunFleet(images, ThrottleLimit, Format, "Copying out of disk images", async (session, image, ct) =>
        {
            string root = await MountImageOperatingSystemAsync(session, ct).ConfigureAwait(false);
            string targetDir = System.IO.Path.Combine(dest, ImageDirectoryName(image));
            Directory.CreateDirectory(targetDir);
            var copied = new List<object>();
            foreach (var pattern in sources)
            {
                string[] matches = pattern.IndexOfAny(new[] { '*', '?', '[' }) >= 0
                    ? await session.GlobExpandAsync(pattern, null, ct).ConfigureAwait(false)
                    : new[] { pattern };
                if (matches.Length == 0)
                    throw new FleetImageException("GuestItemNotFound", ErrorCategory.ObjectNotFound, $"nothing matches {pattern} (operating system on {root})");
                foreach (var src in matches)
                {
                    string name = GuestPath.GetFileName(src.TrimEnd('/'));
                    if (name.Length == 0) name = "root";
                    // A named symlink (/etc/os-release → ../usr/lib/os-release) is copied as what
                    // it points to, resolved inside the guest (never into the appliance's own files).
                    string real = await session.RealpathAsync(src, ct).ConfigureAwait(false);
                    if (!recurse && await session.IsDirAsync(real, null, ct).ConfigureAwait(false))
                        throw new FleetImageException("DirectoryNeedsRecurse", ErrorCategory.InvalidArgument, $"{src} is a directory; add -Recurse to copy it with everything in it");
                    string target = System.IO.Path.Combine(targetDir, name);
                    await session.CopyOutToAsync(real, target, overwrite: true, progress: null, skipped: null, cancellationToken: ct).ConfigureAwait(false);
                    if (passThru) copied.Add(Directory.Exists(target) ? new DirectoryInfo(target) : new FileInfo(target));
                }
            }
            return copied;
        }, "CopyItemFailed");
    }

    /// <summary>
    /// The directory under -Destination for one image: the file name without its
    /// extension, or for a URI the last part of its path (an NBD export, an HTTP file,
    /// an iSCSI LUN's target), without extension; the host when the path is empty.
    /// </summary>
    internal static string ImageDirectoryName(string image)
    {
        if (image.StartsWith('/')) return System.IO.Path.GetFileNameWithoutExtension(image);
        string name = "";
        if (System.Uri.TryCreate(image, UriKind.Absolute, out var u))
        {
            var parts = u.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            // iscsi://host/target-iqn/lun: the target names the disk better than the LUN number.
            if (u.Scheme == "iscsi" && parts.Length >= 2) name = parts[^2];
            else if (parts.Length > 0) name = System.IO.Path.GetFileNameWithoutExtension(System.Uri.UnescapeDataString(parts[^1]));
            if (name.Length == 0) name = u.Host.Length > 0 ? u.Host : u.Scheme;
        }
        foreach (char c in System.IO.Path.GetInvalidFileNameChars()) name = name.Replace(c, '_');
        return name.Length == 0 || name is "." or ".." ? "disk" : name.Replace(':', '_');
    }

    /// <summary>
    /// Mounts an image's guest read-only by the engine's one policy (its operating system,
    /// or the only filesystem when there is none); gives what was mounted at /.
    /// </summary>
    private static async System.Threading.Tasks.Task<string> MountImageOperatingSystemAsync(GuestFs.Engine.Session.GuestSession session, System.Threading.CancellationToken ct)
    {
        try
        {
            var r = await session.MountGuestAsync(null, null, readOnly: true, singleFileSystemWithoutOs: true, ct).ConfigureAwait(false);
            return r.Root ?? r.Mounts[0].Device;
        }
        catch (GuestFs.Engine.Session.GuestMountPolicyException e)
        {
            throw new FleetImageException(e.Reason, e.Reason == "AmbiguousOperatingSystem" ? ErrorCategory.InvalidArgument : ErrorCategory.ObjectNotFound,
                e.Reason == "AmbiguousOperatingSystem" ? e.Message + " Copy-GuestItem -ImagePath takes images with one operating system; open this one with Open-GuestDisk -Inspect -Root." : e.Message);
        }
    }

    /// <summary>
    /// Where -Destination points for a source on <paramref name="sourceDisk"/>
    /// (null for a host source): a guest disk and path, or (null, host path).
    /// </summary>
    private (GuestDisk? Disk, string Path) DestinationFor(GuestDisk? sourceDisk)
    {
        if (IsGuestFsPath(Destination))
        {
            var d = ResolveLocation(Destination, null, literal: true, out var guestPath);
            return (d, GuestPath.Normalize(guestPath));
        }
        if (sourceDisk is null) return (ResolveDisk(Disk), GuestPath.Normalize(Destination));
        if (ParameterSetName == "WithinGuest") return (sourceDisk, GuestPath.Normalize(Destination));
        // A guest source (also a drive item piped in by its PSPath) goes to the host.
        return (null, GetUnresolvedProviderPathFromPSPath(Destination));
    }

    private void CopyGuestSource(GuestDisk disk, string src)
    {
        var (destDisk, dest) = DestinationFor(disk);
        if (destDisk is null) CopyOut(disk, src, dest);
        else if (destDisk == disk) CopyWithin(disk, src, dest);
        else WriteError(new ErrorRecord(new InvalidOperationException($"'{src}' is on GuestDisk {disk.Id} and '{Destination}' on GuestDisk {destDisk.Id}; Copy-GuestItem copies between the host and a guest, or within one guest. Copy to a host directory first, then from there."),
            "CrossDiskCopyNotSupported", ErrorCategory.InvalidOperation, src));
    }

    private void CopyHostSources(string lp)
    {
        IEnumerable<string> sources;
        try { sources = GetResolvedProviderPathFromPSPath(lp, out _); }
        catch (ItemNotFoundException e)
        {
            WriteError(new ErrorRecord(e, "PathNotFound", ErrorCategory.ObjectNotFound, lp));
            return;
        }
        var (destDisk, dest) = DestinationFor(null);
        foreach (var src in sources)
            if (!CopyIn(destDisk!, src, dest)) return;
    }

    // ------------------------------------------------------------ guest → host

    private void CopyOut(GuestDisk disk, string src, string dest)
    {
        var s = disk.Session;
        GuestFileInfo? item;
        try { item = Run(ct => s.GetItemAsync(src, ct), s); }
        catch (Exception e) { WriteError(ToErrorRecord(e, "CopyItemFailed", src, reading: true)); return; }
        if (item is null) { WriteError(GuestPathNotFound(src)); return; }
        bool destIsDir = Directory.Exists(dest);
        string target = destIsDir ? System.IO.Path.Combine(dest, item.Name == "/" ? "root" : item.Name) : dest;
        if (SecondCopyToSameName(target, destIsDir)) return;
        if (item.IsDirectory && !Recurse.IsPresent)
        {
            if (!ShouldProcess($"Item: {src} Destination: {target}", "Copy guest directory (without contents)")) return;
            Directory.CreateDirectory(target);
            if (PassThru.IsPresent) WriteHostItem(target);
            return;
        }
        if (!ShouldProcess($"Item: {src} Destination: {target}", item.IsDirectory ? "Copy guest directory tree" : "Copy guest file")) return;
        if (!item.IsDirectory && File.Exists(target) && (File.GetAttributes(target) & FileAttributes.ReadOnly) != 0 && !Force.IsPresent)
        {
            WriteError(new ErrorRecord(new IOException($"'{target}' is read-only; use -Force to replace it"), "DestinationReadOnly", ErrorCategory.PermissionDenied, target));
            return;
        }
        try
        {
            var progress = MakeProgress(item.IsDirectory ? $"{src} → {target}" : src);
            Run(ct => s.CopyOutToAsync(src, target, overwrite: true, progress,
                (name, why) => Post(() => WriteWarning($"{name}: {why}")), ct), s);
            if (PassThru.IsPresent) WriteHostItem(target);
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "CopyItemFailed", src, reading: true));
        }
    }

    // ------------------------------------------------------------ host → guest

    /// <summary>One host file or tree into the guest; false after a read-only refusal (nothing more is tried).</summary>
    private bool CopyIn(GuestDisk disk, string src, string dest)
    {
        var s = disk.Session;
        if (!RequireWritable(disk, dest)) return false;
        bool isDir = Directory.Exists(src);
        try
        {
            var destItem = Run(ct => s.GetItemAsync(dest, ct), s);
            string parent, name;
            if (destItem is { IsDirectory: true }) { parent = dest; name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(src)); }
            else { parent = GuestPath.GetDirectoryName(dest); name = GuestPath.GetFileName(dest); }
            string target = GuestPath.Combine(parent, name);
            if (SecondCopyToSameName(target, destItem is { IsDirectory: true })) return true;
            if (isDir && !Recurse.IsPresent)
            {
                if (!ShouldProcess($"Item: {src} Destination: {target}", "Create guest directory (without contents)")) return true;
                Run(ct => s.MkdirPAsync(target, ct), s);
                if (PassThru.IsPresent) WriteObject(Run(ct => s.GetItemAsync(target, ct), s));
                return true;
            }
            if (!ShouldProcess($"Item: {src} Destination: {target}", isDir ? "Copy directory tree into guest" : "Copy file into guest")) return true;
            if (Force.IsPresent) Run(ct => s.MkdirPAsync(parent, ct), s);
            var progress = MakeProgress(src);
            if (isDir) Run(ct => s.CopyInAsync(src, parent, progress, ct, targetName: name), s);
            else Run(ct => s.UploadFileAsync(src, target, progress, ct), s);
            if (PassThru.IsPresent)
            {
                var after = Run(ct => s.GetItemAsync(target, ct), s);
                if (after is not null) WriteObject(after);
            }
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "CopyItemFailed", src));
        }
        return true;
    }

    // ------------------------------------------------------------ within guest

    private void CopyWithin(GuestDisk disk, string src, string dest)
    {
        var s = disk.Session;
        if (!RequireWritable(disk, dest)) return;
        try
        {
            var item = Run(ct => s.GetItemAsync(src, ct), s);
            if (item is null) { WriteError(GuestPathNotFound(src)); return; }
            var (target, existing) = Run(ct => GuestItemOperations.MoveTargetAsync(s, src, dest, ct), s);
            if (SecondCopyToSameName(target, target != dest)) return;
            if (GuestItemOperations.CheckCopy(item, src, target, src, target) is { } refused) { WriteError(refused); return; }
            if (!ShouldProcess($"Item: {src} Destination: {target}", GuestItemOperations.CopyAction(item, Recurse.IsPresent))) return;
            Run(ct => GuestItemOperations.CopyAsync(s, item, src, target, existing, Recurse.IsPresent, ct), s);
            if (PassThru.IsPresent)
            {
                var after = Run(ct => s.GetItemAsync(target, ct), s);
                if (after is not null) WriteObject(after);
            }
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "CopyItemFailed", src));
        }
    }

    // ------------------------------------------------------------ helpers

    /// <summary>Progress records (bytes, percent, time left; a child record per file in a tree), rate-limited.</summary>
    private IProgress<CopyProgress> MakeProgress(string what)
    {
        long startDone = _totalDone;
        var started = _clock.Elapsed;
        return new SyncProgress<CopyProgress>(p =>
        {
            long now = _clock.ElapsedTicks;
            bool final = p.TotalExpected > 0 && p.TotalBytes >= p.TotalExpected;
            if (!final && now - Interlocked.Read(ref _lastProgressTicks) < Stopwatch.Frequency / 5) return;
            Interlocked.Exchange(ref _lastProgressTicks, now);
            _totalDone = startDone + p.TotalBytes;
            var elapsed = _clock.Elapsed - started;
            var rec = new ProgressRecord(ActivityId, $"Copying {what}",
                p.TotalExpected > 0 ? $"{Size(p.TotalBytes)} of {Size(p.TotalExpected)}" : $"{Size(p.TotalBytes)}");
            if (p.TotalExpected > 0)
            {
                rec.PercentComplete = (int)Math.Min(100, p.TotalBytes * 100 / p.TotalExpected);
                double rate = elapsed.TotalSeconds > 0.2 ? p.TotalBytes / elapsed.TotalSeconds : 0;
                if (rate > 0) rec.SecondsRemaining = (int)Math.Max(0, (p.TotalExpected - p.TotalBytes) / rate);
            }
            Post(() => WriteProgress(rec));
            if (p.FilesExpected > 1)
            {
                var child = new ProgressRecord(ProgressActivity.CopyFile, "File", $"{p.CurrentItem}") { ParentActivityId = ActivityId };
                child.CurrentOperation = $"file {Math.Min(p.FilesDone + 1, p.FilesExpected)} of {p.FilesExpected}";
                if (p.FilesExpected > 0) child.PercentComplete = Math.Min(100, p.FilesDone * 100 / p.FilesExpected);
                Post(() => WriteProgress(child));
            }
        });
    }

    private static string Size(long b) => b switch
    {
        >= 1L << 30 => $"{b / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} B",
    };
}

/// <summary>An IProgress that calls back on the reporting thread (no synchronisation context hop).</summary>
internal sealed class SyncProgress<T> : IProgress<T>
{
    private readonly Action<T> _action;
    public SyncProgress(Action<T> action) { _action = action; }
    public void Report(T value) => _action(value);
}
