using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>What Optimize-GuestDisk did to one image.</summary>
public sealed class GuestDiskOptimizeResult
{
    public string Path { get; init; } = "";
    /// <summary>The new image (copying mode), or null when the image was sparsified in place.</summary>
    public string? Destination { get; init; }
    public string Format { get; init; } = "";
    /// <summary>Host bytes allocated to the source before, and to the result after (qemu-img info actual-size).</summary>
    public long SizeBefore { get; init; }
    public long SizeAfter { get; init; }
    public SparsifyAction[] Actions { get; init; } = Array.Empty<SparsifyAction>();
}

/// <summary>
/// Frees the unused space of disk images, as virt-sparsify does (and as Hyper-V's
/// Optimize-VHD does for VHDX): in place, or into a new image with -Destination.
/// </summary>
[Cmdlet(VerbsCommon.Optimize, "GuestDisk", SupportsShouldProcess = true, DefaultParameterSetName = InPlaceSet)]
[OutputType(typeof(GuestDiskOptimizeResult))]
public sealed class OptimizeGuestDiskCommand : GuestCmdlet
{
    private const string InPlaceSet = "InPlace";
    private const string CopySet = "Copy";
    private const int ActivityId = 0x6e8;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Write a sparsified copy here instead of changing the source.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CopySet)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    /// <summary>Format of the new image (default: the source's).</summary>
    [Parameter(ParameterSetName = CopySet)]
    [ValidateSet("raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc")]
    public string? Format { get; set; }

    /// <summary>Compress the new image (qcow2 only).</summary>
    [Parameter(ParameterSetName = CopySet)]
    public SwitchParameter Compress { get; set; }

    /// <summary>Replace an existing destination.</summary>
    [Parameter(ParameterSetName = CopySet)]
    public SwitchParameter Force { get; set; }

    /// <summary>Unlocks encrypted (LUKS) volumes so their filesystems can be trimmed.</summary>
    [Parameter]
    public SecureString? Passphrase { get; set; }

    /// <summary>In place: how many images are sparsified at once (each in its own appliance). Default 1.</summary>
    [Parameter(ParameterSetName = InPlaceSet)]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; } = 1;

    // With -ThrottleLimit above 1 the images are gathered from the pipeline and run in EndProcessing.
    private readonly List<string> _queued = new();

    protected override void BeginProcessing()
    {
        if (Compress.IsPresent && (Format ?? "qcow2") != "qcow2")
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Compress works for qcow2 only; -Format is {Format}. Use -Format qcow2 or leave -Compress out."),
                "CompressNeedsQcow2", ErrorCategory.InvalidArgument, Format));
    }

    protected override void ProcessRecord()
    {
        var paths = new List<string>();
        foreach (var p in Path)
        {
            try { paths.AddRange(GetResolvedProviderPathFromPSPath(p, out _)); }
            catch (ItemNotFoundException e)
            {
                WriteError(new ErrorRecord(new FileNotFoundException($"The disk image '{p}' does not exist; check the path.", e), "DiskImageNotFound", ErrorCategory.ObjectNotFound, p));
            }
        }
        if (ParameterSetName == CopySet && paths.Count > 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Destination names one new image, but -Path matched several; give one source, or leave -Destination out to sparsify each in place."),
                "DestinationNeedsOneSource", ErrorCategory.InvalidArgument, Destination));
        foreach (var path in paths)
        {
            if (StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            if (ParameterSetName == CopySet) OptimizeCopy(path);
            else if (ThrottleLimit > 1) { if (!_queued.Contains(path)) _queued.Add(path); }
            else OptimizeInPlace(path);
        }
    }

    protected override void EndProcessing()
    {
        if (_queued.Count > 0) OptimizeInPlaceMany(_queued);
    }

    /// <summary>
    /// In place, -ThrottleLimit images at a time: every image is checked and confirmed
    /// first (on this thread), then each runs in its own appliance; results and errors
    /// are written as each image finishes. Ctrl+C stops every appliance.
    /// </summary>
    private void OptimizeInPlaceMany(IReadOnlyList<string> paths)
    {
        var images = new List<(string Path, DiskImageInfo Info)>();
        foreach (var path in paths)
        {
            if (!Validate(path, inPlace: true)) continue;
            if (!ShouldProcess(path, "Sparsify in place: trim the free space of every filesystem, clear swap, discard free LVM space")) continue;
            try { images.Add((path, Run(ct => DiskImage.InfoAsync(path, ct)))); }
            catch (Exception e) { Fail(e, path); }
        }
        if (images.Count == 0) return;
        int limit = Math.Min(ThrottleLimit, images.Count);
        WriteVerbose($"Optimize-GuestDisk: {images.Count} image(s), {limit} at a time (-ThrottleLimit)");
        const int overall = ProgressActivity.Fleet;
        int done = 0;
        // The appliances run on their own token: if the command ends early (Ctrl+C, or an
        // error record that -ErrorAction Stop turns into a throw on this thread) they are
        // cancelled and waited for, so no qemu outlives the command.
        using var fleetCts = CancellationTokenSource.CreateLinkedTokenSource(StopToken);
        Task? all = null;
        try
        {
            Run(_ => all = RunAllAsync(fleetCts.Token));
        }
        catch (Exception) when (all is not null && !all.IsCompleted)
        {
            fleetCts.Cancel();
            try { all.Wait(TimeSpan.FromSeconds(60)); } catch (AggregateException) { }
            if (StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            throw;
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested) { throw new PipelineStoppedException(); }
        finally { WriteProgress(new ProgressRecord(overall, "Optimize-GuestDisk", "done") { RecordType = ProgressRecordType.Completed }); }

        async Task RunAllAsync(CancellationToken ct)
        {
                using var gate = new SemaphoreSlim(limit);
                var tasks = images.Select(async (img, index) =>
                {
                    await gate.WaitAsync(ct).ConfigureAwait(false);
                    int activity = ActivityId + 0x100 + index;
                    string title = $"Optimizing {System.IO.Path.GetFileName(img.Path)}";
                    try
                    {
                        await using var session = NewSession(img.Path, img.Info.Format, title, activity, overall);
                        session.Message += (_, e) => Post(() =>
                        {
                            if (e.Level == MessageLevel.Warning) WriteWarning($"{img.Path}: {e.Message}");
                            else if (e.Level == MessageLevel.Verbose) WriteVerbose($"{img.Path}: {e.Message}");
                        });
                        var actions = await TrimAsync(session, img.Path, stage => Post(() =>
                            WriteProgress(new ProgressRecord(activity, title, stage) { PercentComplete = 40, ParentActivityId = overall })), copying: false, ct).ConfigureAwait(false);
                        var after = await DiskImage.InfoAsync(img.Path, ct).ConfigureAwait(false);
                        var result = new GuestDiskOptimizeResult { Path = img.Path, Format = img.Info.Format, SizeBefore = img.Info.ActualSize, SizeAfter = after.ActualSize, Actions = actions.ToArray() };
                        Post(() => WriteObject(result));
                    }
                    catch (Exception e) when (!(e is OperationCanceledException && ct.IsCancellationRequested))
                    {
                        Post(() => Fail(e, img.Path));
                    }
                    finally
                    {
                        gate.Release();
                        int n = Interlocked.Increment(ref done);
                        Post(() =>
                        {
                            WriteProgress(new ProgressRecord(activity, title, "done") { RecordType = ProgressRecordType.Completed, ParentActivityId = overall });
                            WriteProgress(new ProgressRecord(overall, "Optimize-GuestDisk", $"{n} of {images.Count} done") { PercentComplete = n * 100 / images.Count });
                        });
                    }
                }).ToList();
                await Task.WhenAll(tasks).ConfigureAwait(false);
        }
    }

    private bool Validate(string path, bool inPlace)
    {
        if (!File.Exists(path))
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"The disk image '{path}' does not exist (or is not a file); check the path.", path), "DiskImageNotFound", ErrorCategory.ObjectNotFound, path));
            return false;
        }
        if (inPlace)
        {
            try { using var _ = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                WriteError(new ErrorRecord(new UnauthorizedAccessException($"'{path}' is read-only for this user, so it cannot be sparsified in place; give -Destination to write a sparsified copy, or make the file writable.", e),
                    "SourceReadOnly", ErrorCategory.PermissionDenied, path));
                return false;
            }
        }
        if (Run(ct => DiskSparsify.IsInUseAsync(path, ct, forWriting: inPlace)))
        {
            WriteError(new ErrorRecord(new IOException($"'{path}' is in use: another process (a running VM, or an Open-GuestDisk -Writable session) holds its write lock. Stop it or close that session first."),
                "ImageInUse", ErrorCategory.ResourceBusy, path));
            return false;
        }
        return true;
    }

    private GuestSession NewSession(string image, string format, string title, int activity = ActivityId, int parent = -1)
    {
        var options = GuestSessionOptions.FromEnvironment();
        if (MyInvocation.BoundParameters.ContainsKey("Debug")) options = options with { Debug = true };
        var session = new GuestSession(options);
        try
        {
            session.AddDrive(image, new DriveOptions { Format = format, ReadOnly = false, Discard = true });
        }
        catch { session.Dispose(); throw; }
        session.LaunchProgress += (_, e) => Post(() => WriteProgress(new ProgressRecord(activity, title, "appliance: " + e.Description) { PercentComplete = e.PercentComplete * 2 / 10, ParentActivityId = parent }));
        return session;
    }

    // Launch, refuse locked encryption, unlock, trim.
    private IReadOnlyList<SparsifyAction> Trim(GuestSession session, string path, string title, bool copying = false) =>
        Run(ct => TrimAsync(session, path, stage => Post(() => WriteProgress(new ProgressRecord(ActivityId, title, stage) { PercentComplete = 40 })), copying, ct), session);

    private async Task<IReadOnlyList<SparsifyAction>> TrimAsync(GuestSession session, string path, Action<string> stage, bool copying, CancellationToken ct)
    {
        await session.LaunchAsync(ct).ConfigureAwait(false);
        stage("looking for filesystems");
        // list_filesystems leaves LUKS volumes out, so they are looked for by type.
        var locked = await session.ListEncryptedDevicesAsync(ct).ConfigureAwait(false);
        if (locked.Count > 0)
        {
            if (Passphrase is null)
                throw new EncryptedException($"'{path}' holds encrypted volumes ({string.Join(", ", locked.Select(kv => kv.Key))}); give -Passphrase to unlock them, so their free space can be trimmed too. Nothing was changed.");
            await session.UnlockEncryptedDevicesAsync(Passphrase, ct).ConfigureAwait(false);
        }
        var fss = await session.ListFilesystemsAsync(ct).ConfigureAwait(false);
        var actions = await DiskSparsify.TrimAsync(session, fss, stage, ct, zeroWhenNoTrim: copying).ConfigureAwait(false);
        await session.ShutdownAsync(ct).ConfigureAwait(false);
        return actions;
    }

    private sealed class EncryptedException : Exception { public EncryptedException(string m) : base(m) { } }

    private void OptimizeInPlace(string path)
    {
        if (!Validate(path, inPlace: true)) return;
        if (!ShouldProcess(path, "Sparsify in place: trim the free space of every filesystem, clear swap, discard free LVM space")) return;
        string title = $"Optimizing {System.IO.Path.GetFileName(path)}";
        try
        {
            var info = Run(ct => DiskImage.InfoAsync(path, ct));
            using var session = NewSession(path, info.Format, title);
            var actions = Trim(session, path, title);
            var after = Run(ct => DiskImage.InfoAsync(path, ct));
            WriteObject(new GuestDiskOptimizeResult { Path = path, Format = info.Format, SizeBefore = info.ActualSize, SizeAfter = after.ActualSize, Actions = actions.ToArray() });
        }
        catch (Exception e) { Fail(e, path); }
        finally { WriteProgress(new ProgressRecord(ActivityId, title, "done") { RecordType = ProgressRecordType.Completed }); }
    }

    private void OptimizeCopy(string path)
    {
        string dest = GetUnresolvedProviderPathFromPSPath(Destination);
        if (string.Equals(System.IO.Path.GetFullPath(dest), path, StringComparison.Ordinal))
        {
            WriteError(new ErrorRecord(new ArgumentException($"-Destination is the source '{path}' itself; leave -Destination out to sparsify in place."), "DestinationIsSource", ErrorCategory.InvalidArgument, dest));
            return;
        }
        if (File.Exists(dest) && !Force.IsPresent)
        {
            WriteError(new ErrorRecord(new IOException($"'{dest}' already exists. Choose another -Destination, or pass -Force to replace it."), "DestinationExists", ErrorCategory.ResourceExists, dest));
            return;
        }
        string? destDir = System.IO.Path.GetDirectoryName(dest);
        if (destDir is null || !Directory.Exists(destDir))
        {
            WriteError(new ErrorRecord(new DirectoryNotFoundException($"The folder of -Destination '{dest}' does not exist; create it first."), "DestinationFolderNotFound", ErrorCategory.ObjectNotFound, dest));
            return;
        }
        if (!Validate(path, inPlace: false)) return;
        string title = $"Optimizing {System.IO.Path.GetFileName(path)} into {System.IO.Path.GetFileName(dest)}";
        string tmpDir = Directory.CreateTempSubdirectory("guestfs-sparsify-").FullName;
        string overlay = System.IO.Path.Combine(tmpDir, "overlay.qcow2");
        string partial = dest + ".guestfs-partial";
        try
        {
            var info = Run(ct => DiskImage.InfoAsync(path, ct));
            string format = Format ?? info.Format;
            if (Compress.IsPresent && format != "qcow2")
            {
                WriteError(new ErrorRecord(new ArgumentException($"-Compress works for qcow2 only, and the new image would be {format}; add -Format qcow2."), "CompressNeedsQcow2", ErrorCategory.InvalidArgument, dest));
                return;
            }
            if (!ShouldProcess(dest, $"Write a sparsified {format}{(Compress.IsPresent ? " (compressed)" : "")} copy of '{path}'")) return;
            Run(ct => DiskSparsify.CreateOverlayAsync(path, info.Format, overlay, ct));
            IReadOnlyList<SparsifyAction> actions;
            using (var session = NewSession(overlay, "qcow2", title))
                actions = Trim(session, path, title, copying: true);
            WriteProgress(new ProgressRecord(ActivityId, title, $"qemu-img convert to {format}") { PercentComplete = 70 });
            Run(ct => DiskSparsify.ConvertAsync(overlay, partial, format, Compress.IsPresent, ct));
            File.Move(partial, dest, overwrite: true);
            var after = Run(ct => DiskImage.InfoAsync(dest, ct));
            WriteObject(new GuestDiskOptimizeResult { Path = path, Destination = dest, Format = format, SizeBefore = info.ActualSize, SizeAfter = after.ActualSize, Actions = actions.ToArray() });
        }
        catch (Exception e) { try { File.Delete(partial); } catch { } Fail(e, path); }
        finally
        {
            try { Directory.Delete(tmpDir, true); } catch { }
            WriteProgress(new ProgressRecord(ActivityId, title, "done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private void Fail(Exception e, string path)
    {
        if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
        if (e is PipelineStoppedException) throw e;
        if (e is EncryptedException)
        {
            WriteError(new ErrorRecord(e, "EncryptedVolumeLocked", ErrorCategory.InvalidArgument, path));
            return;
        }
        WriteError(ToErrorRecord(e, "OptimizeFailed", path));
    }
}
