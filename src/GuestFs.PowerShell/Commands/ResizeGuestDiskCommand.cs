using System;
using System.Diagnostics;
using System.IO;
using System.Management.Automation;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// Copies a disk image into a new one of another size, growing or shrinking
/// partitions and the filesystem, PV or LV inside them — what virt-resize does (and
/// Hyper-V's Resize-VHD for VHDX). The source is only read.
/// </summary>
[Cmdlet(VerbsCommon.Resize, "GuestDisk", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo), typeof(ResizePlan))]
public sealed class ResizeGuestDiskCommand : GuestCmdlet
{
    private const int ActivityId = 0x6e9;
    // A source partition as -Expand, -Shrink and the keys of -Resize name it.
    private const string PartitionPattern = @"^/dev/sda[0-9]+$";

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    /// <summary>Virtual size of the new disk in bytes (2GB, 10GB … work).</summary>
    [Parameter(Mandatory = true)]
    [ValidateRange(4 * 1024 * 1024, long.MaxValue)]
    public long SizeBytes { get; set; }

    /// <summary>The source partition (/dev/sdaN) that gets the extra space.</summary>
    [Parameter]
    [ValidatePattern(PartitionPattern)]
    public string? Expand { get; set; }

    /// <summary>The source partition that gives up the room a smaller destination lacks (virt-resize --shrink).</summary>
    [Parameter]
    [ValidatePattern(PartitionPattern)]
    public string? Shrink { get; set; }

    /// <summary>New sizes of named partitions (virt-resize --resize): @{ '/dev/sda1' = '+200M'; '/dev/sda3' = 1GB }.</summary>
    [Parameter]
    public System.Collections.Hashtable? Resize { get; set; }

    /// <summary>Logical volumes (/dev/VG/LV) grown to fill their volume group afterwards.</summary>
    [Parameter]
    public string[] LVExpand { get; set; } = Array.Empty<string>();

    [Parameter]
    [ValidateSet("raw", "qcow2")]
    public string Format { get; set; } = "raw";

    /// <summary>Output the plan (the destination's layout) and change nothing.</summary>
    [Parameter]
    public SwitchParameter PlanOnly { get; set; }

    /// <summary>Replace an existing destination.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        string source;
        try
        {
            var resolved = GetResolvedProviderPathFromPSPath(Path, out _);
            if (resolved.Count != 1)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Path '{Path}' matches {resolved.Count} files; give exactly one source image."), "AmbiguousSource", ErrorCategory.InvalidArgument, Path));
            source = resolved[0];
        }
        catch (ItemNotFoundException e)
        {
            ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"The disk image '{Path}' does not exist; check the path.", e), "DiskImageNotFound", ErrorCategory.ObjectNotFound, Path));
            return;
        }
        string dest = GetUnresolvedProviderPathFromPSPath(Destination);
        if (string.Equals(dest, source, StringComparison.Ordinal))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Destination must be a new image, not the source: resizing copies the disk and never changes the source."), "DestinationIsSource", ErrorCategory.InvalidArgument, dest));
        if (File.Exists(dest) && !Force.IsPresent && !PlanOnly.IsPresent)
            ThrowTerminatingError(new ErrorRecord(new IOException($"'{dest}' already exists. Choose another -Destination, or pass -Force to replace it."), "DestinationExists", ErrorCategory.ResourceExists, dest));
        string? dir = System.IO.Path.GetDirectoryName(dest);
        if (dir is null || !Directory.Exists(dir))
            ThrowTerminatingError(new ErrorRecord(new DirectoryNotFoundException($"The folder of -Destination '{dest}' does not exist; create it first."), "DestinationFolderNotFound", ErrorCategory.ObjectNotFound, dest));
        if (Run(ct => DiskSparsify.IsInUseAsync(source, ct)))
            ThrowTerminatingError(new ErrorRecord(new IOException($"'{source}' is in use: another process (a running VM, or an Open-GuestDisk -Writable session) holds its write lock, so its content may change while it is copied. Stop it or close that session first."),
                "ImageInUse", ErrorCategory.ResourceBusy, source));

        var request = new ResizeRequest { Expand = Expand, Shrink = Shrink, Resizes = ResizesFromParameter() };
        bool dryRun = PlanOnly.IsPresent || (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && w is SwitchParameter sw && sw.IsPresent);
        string title = $"Resizing {System.IO.Path.GetFileName(source)} into {System.IO.Path.GetFileName(dest)}";
        string partial = dest + ".guestfs-partial";
        bool created = false;
        try
        {
            var sourceInfo = Run(ct => DiskImage.InfoAsync(source, ct));
            if (!dryRun)
            {
                Run(ct => DiskImage.CreateAsync(partial, SizeBytes, Format, overwrite: true, ct));
                created = true;
            }
            ResizePlan plan;
            using (var session = NewSession(title))
            {
                session.AddDrive(source, new DriveOptions { Format = sourceInfo.Format, ReadOnly = true });
                if (!dryRun) session.AddDrive(partial, new DriveOptions { Format = Format, ReadOnly = false, CacheMode = "unsafe" });
                plan = Run(async ct =>
                {
                    await session.LaunchAsync(ct).ConfigureAwait(false);
                    return await DiskResize.PlanAsync(session, source, dest, SizeBytes, request, LVExpand, ct).ConfigureAwait(false);
                }, session);
                if (PlanOnly.IsPresent) { WriteObject(plan); return; }
                if (!ShouldProcess(dest, "Resize-GuestDisk\n" + plan)) return;
                WriteVerbose(plan.ToString());
                var watch = Stopwatch.StartNew();
                string current = "copying";
                EventHandler<GuestProgressEventArgs> eta = (_, e) =>
                {
                    if (e.IsPulse || e.Total == 0 || e.ProcedureName != "copy_device_to_device") return;
                    double done = (double)e.Position / e.Total;
                    var rec = new ProgressRecord(ActivityId, title, current) { PercentComplete = 20 + (int)(done * 60) };
                    if (done > 0.02) rec.SecondsRemaining = (int)(watch.Elapsed.TotalSeconds * (1 - done) / done);
                    Post(() => WriteProgress(rec));
                };
                session.Progress += eta;
                try
                {
                    Run(ct => DiskResize.CopyAsync(session, plan, s =>
                    {
                        current = s; watch.Restart();
                        Post(() => WriteProgress(new ProgressRecord(ActivityId, title, s) { PercentComplete = 20 }));
                    }, ct), session);
                    Run(ct => session.ShutdownAsync(ct), session);
                }
                finally { session.Progress -= eta; }
            }
            if (DiskResize.NeedsExpansion(plan))
            {
                using var grow = NewSession(title);
                grow.AddDrive(partial, new DriveOptions { Format = Format, ReadOnly = false, CacheMode = "unsafe" });
                Run(async ct =>
                {
                    await grow.LaunchAsync(ct).ConfigureAwait(false);
                    await DiskResize.ExpandAsync(grow, plan, s => Post(() => WriteProgress(new ProgressRecord(ActivityId, title, s) { PercentComplete = 90 })), ct).ConfigureAwait(false);
                    await grow.ShutdownAsync(ct).ConfigureAwait(false);
                }, grow);
            }
            File.Move(partial, dest, overwrite: true);
            created = false;
            try { WriteObject(SessionState.InvokeProvider.Item.Get(new[] { WildcardPattern.Escape(dest) }, false, true), true); }
            catch (Exception) { WriteObject(new FileInfo(dest)); }
        }
        catch (Exception e)
        {
            if (created) { try { File.Delete(partial); } catch { } created = false; }
            if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            if (e is PipelineStoppedException) throw;
            if (e is DiskResizeException r)
                ThrowTerminatingError(new ErrorRecord(e, r.Reason, r.Reason switch
                {
                    "DestinationTooSmall" => ErrorCategory.InvalidArgument,
                    "UnknownPartition" or "UnknownLogicalVolume" => ErrorCategory.ObjectNotFound,
                    "CannotExpandContent" or "CannotShrinkContent" or "ContentTooLarge" or "NoDeficit" or "ExpandAndShrink" or "PartitionResizedTwice" => ErrorCategory.InvalidOperation,
                    "BadResizeSize" => ErrorCategory.InvalidArgument,
                    _ => ErrorCategory.NotImplemented,
                }, r.Target ?? source));
            ThrowTerminatingError(ToErrorRecord(e, "ResizeFailed", source));
        }
        finally
        {
            if (created) { try { File.Delete(partial); } catch { } }
            WriteProgress(new ProgressRecord(ActivityId, title, "done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private System.Collections.Generic.Dictionary<string, string> ResizesFromParameter()
    {
        var d = new System.Collections.Generic.Dictionary<string, string>(StringComparer.Ordinal);
        if (Resize is null) return d;
        foreach (System.Collections.DictionaryEntry e in Resize)
        {
            string name = LanguagePrimitives.ConvertTo<string>(e.Key) ?? "";
            if (!System.Text.RegularExpressions.Regex.IsMatch(name, PartitionPattern))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Resize key '{name}' is not a source partition; write it as /dev/sdaN (Resize-GuestDisk -PlanOnly lists them)."), "BadResizePartition", ErrorCategory.InvalidArgument, name));
            object? v = e.Value is PSObject pso ? pso.BaseObject : e.Value;
            string text = v switch
            {
                string str => str,
                null => "",
                _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
            };
            d[name] = text;
        }
        return d;
    }

    private GuestSession NewSession(string title)
    {
        var options = GuestSessionOptions.FromEnvironment();
        if (MyInvocation.BoundParameters.ContainsKey("Debug")) options = options with { Debug = true };
        var session = new GuestSession(options);
        session.LaunchProgress += (_, e) => Post(() => WriteProgress(new ProgressRecord(ActivityId, title, "appliance: " + e.Description) { PercentComplete = e.PercentComplete * 2 / 10 }));
        return session;
    }
}
