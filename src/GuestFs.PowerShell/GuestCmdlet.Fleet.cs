using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

public abstract partial class GuestCmdlet
{
    /// <summary>
    /// Host paths of disk images (wildcards unless literal; FileSystem only; a
    /// path of another provider is a non-terminating NotAFileSystemPath error).
    /// For many independent images a path that does not exist is a
    /// non-terminating DiskImageNotFound error and the others go on; for the
    /// disks of one session (<paramref name="oneSession"/>) it stops the
    /// cmdlet, since that VM would be incomplete, and a directory is kept so
    /// that adding it gives its own clear error.
    /// </summary>
    protected List<string> ResolveImages(IEnumerable<string> paths, bool literal, bool oneSession = false)
    {
        var images = new List<string>();
        foreach (var p in paths)
        {
            try
            {
                if (literal)
                {
                    string lp = GetUnresolvedProviderPathFromPSPath(p);
                    if (!File.Exists(lp) && !(oneSession && Directory.Exists(lp))) throw new ItemNotFoundException(lp);
                    images.Add(lp);
                    continue;
                }
                var resolved = GetResolvedProviderPathFromPSPath(p, out var provider);
                if (provider.Name != "FileSystem")
                {
                    WriteError(new ErrorRecord(new ArgumentException($"'{p}' is not a file system path; disk images must be files"),
                        "NotAFileSystemPath", ErrorCategory.InvalidArgument, p));
                    continue;
                }
                images.AddRange(oneSession ? resolved : resolved.Where(File.Exists));
            }
            catch (ItemNotFoundException e)
            {
                var rec = new ErrorRecord(new FileNotFoundException(
                    $"The disk image '{p}' does not exist. Check the path, or create an image with New-GuestDiskImage.", p, e),
                    "DiskImageNotFound", ErrorCategory.ObjectNotFound, p);
                if (oneSession) ThrowTerminatingError(rec);
                WriteError(rec);
            }
        }
        return images;
    }

    /// <summary>
    /// Disks on servers for many-image work (-Uri), checked before any session starts:
    /// a malformed URI or an unsupported scheme stops the command (BadDiskUri).
    /// </summary>
    protected List<string> CheckedUris(IEnumerable<string> uris)
    {
        var list = new List<string>();
        foreach (var u in uris)
        {
            try { Engine.Launch.DriveUri.Parse(u); }
            catch (ArgumentException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "BadDiskUri", ErrorCategory.InvalidArgument, Engine.Launch.DriveUri.Redact(u)));
            }
            list.Add(u);
        }
        return list;
    }

    /// <summary>
    /// Opens every image in its own read-only session (read-write with <paramref name="writable"/>,
    /// with the appliance network with <paramref name="network"/>), <paramref name="throttle"/>
    /// at a time (0: the default from cores and memory, said in the verbose
    /// stream), runs <paramref name="work"/> on it and writes what it returns with
    /// an ImagePath property, as each image finishes. A failing image is a
    /// non-terminating error naming it; Ctrl+C stops every session.
    /// </summary>
    protected void RunFleet(IReadOnlyCollection<string> imageList, int throttle, string? format, string what,
        Func<GuestSession, string, CancellationToken, Task<IReadOnlyList<object>>> work, string errorId, bool writable = false, bool network = false)
    {
        var images = imageList.Distinct(StringComparer.Ordinal).ToList();
        if (images.Count == 0) return;
        GuestSessionOptions options;
        try { options = GuestSessionOptions.FromEnvironment() with { Network = network }; }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "BadEnvironmentVariable", ErrorCategory.InvalidArgument, null));
            return;
        }
        int limit;
        if (throttle <= 0)
        {
            var (d, why) = FleetThrottle.Default(Environment.ProcessorCount, FleetThrottle.ReadAvailableMemory());
            limit = Math.Min(d, images.Count);
            WriteVerbose($"{what}: {images.Count} image(s), {limit} at a time (default {d}, from {why}; -ThrottleLimit sets it)");
        }
        else
        {
            limit = Math.Min(throttle, images.Count);
            WriteVerbose($"{what}: {images.Count} image(s), {limit} at a time (-ThrottleLimit)");
        }

        const int activityId = ProgressActivity.Fleet;
        int done = 0;
        void Report(string image) => Post(() => WriteProgress(new ProgressRecord(activityId, what, $"{done} of {images.Count} done; finished {Path.GetFileName(image)}")
        { PercentComplete = done * 100 / images.Count }));

        // The sessions run on their own token: when the command ends early for any reason
        // (Ctrl+C, or a record written under -ErrorAction Stop throwing on the pipeline
        // thread), they are cancelled and waited for, so no qemu outlives the command.
        // (A worker can post its error before RunImagesAsync has returned its task, so the
        // end is signalled separately rather than through that task.)
        using var fleetCts = CancellationTokenSource.CreateLinkedTokenSource(StopToken);
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int started = 0;
        try
        {
            Run(ct => RunImagesAsync(fleetCts.Token));
        }
        catch (Exception) when (Volatile.Read(ref started) == 1 && !finished.Task.IsCompleted)
        {
            fleetCts.Cancel();
            finished.Task.Wait(TimeSpan.FromSeconds(60));
            if (StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            throw;
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        finally
        {
            WriteProgress(new ProgressRecord(activityId, what, "done") { RecordType = ProgressRecordType.Completed });
        }

        async Task RunImagesAsync(CancellationToken ct)
        {
            Volatile.Write(ref started, 1);
            try { await RunAllAsync(ct).ConfigureAwait(false); }
            finally { finished.TrySetResult(); }
        }

        async Task RunAllAsync(CancellationToken ct)
        {
                using var gate = new SemaphoreSlim(limit);
                var tasks = images.Select(async image =>
                {
                    await gate.WaitAsync(ct).ConfigureAwait(false);
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    var session = new GuestSession(options);
                    try
                    {
                        // Files are absolute paths (ResolveImages); anything else is a -Uri
                        // image (scheme://…, checked when it was collected).
                        var driveOptions = new DriveOptions { Format = format, ReadOnly = !writable };
                        if (!image.StartsWith('/')) session.AddDrive(Engine.Launch.DriveUri.Parse(image), driveOptions);
                        else session.AddDrive(image, driveOptions);
                        await session.LaunchAsync(ct).ConfigureAwait(false);
                        var results = await work(session, image, ct).ConfigureAwait(false);
                        string? mode = session.LaunchMode;
                        Post(() =>
                        {
                            foreach (var r in results)
                            {
                                var o = PSObject.AsPSObject(r);
                                if (o.Properties["ImagePath"] is null) o.Properties.Add(new PSNoteProperty("ImagePath", image));
                                WriteObject(o);
                            }
                            WriteVerbose($"{image}: done in {sw.Elapsed.TotalSeconds:0.0} s ({mode} launch)");
                        });
                    }
                    catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
                    catch (Exception e)
                    {
                        Post(() => WriteError(FleetImageError(e, errorId, image)));
                    }
                    finally
                    {
                        try { await session.DisposeAsync().ConfigureAwait(false); } catch { }
                        gate.Release();
                        Interlocked.Increment(ref done);
                        Report(image);
                    }
                }).ToArray();
                await Task.WhenAll(tasks).ConfigureAwait(false);
        }
    }

    /// <summary>A per-image failure: names the image, keeps the daemon's errno as the category.</summary>
    internal static ErrorRecord FleetImageError(Exception e, string errorId, string image)
    {
        if (e is FleetImageException f)
            return new ErrorRecord(new InvalidOperationException($"{image}: {f.Message}", f), f.ErrorId, f.Category, image);
        var rec = ToErrorRecord(e, errorId, image, reading: true);
        rec.ErrorDetails = new ErrorDetails($"{image}: {e.Message}");
        return rec;
    }
}
