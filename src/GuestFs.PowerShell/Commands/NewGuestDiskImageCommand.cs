using System;
using System.IO;
using System.Management.Automation;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

public enum GuestPartitionStyle { MBR, GPT, None }

/// <summary>
/// Creates a new disk image (raw or qcow2), optionally partitioned and
/// formatted — the job of guestfish -N. Partitioning and mkfs run in a
/// short-lived appliance that is closed before the cmdlet returns.
/// </summary>
[Cmdlet(VerbsCommon.New, "GuestDiskImage", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class NewGuestDiskImageCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Virtual size in bytes (PowerShell's 512MB, 4GB … work).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateRange(1024 * 1024, long.MaxValue)]
    public long Size { get; set; }

    [Parameter]
    [ValidateSet("raw", "qcow2")]
    public string Format { get; set; } = "raw";

    [Parameter]
    public GuestPartitionStyle PartitionStyle { get; set; } = GuestPartitionStyle.MBR;

    /// <summary>Filesystem for the (single) partition; omit for an empty disk.</summary>
    [Parameter]
    [ValidateSet("ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "ntfs", "none")]
    public string? FileSystem { get; set; }

    [Parameter]
    public string? Label { get; set; }

    /// <summary>Replace an existing file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        string full = GetUnresolvedProviderPathFromPSPath(Path);
        if (File.Exists(full) && !Force.IsPresent)
        {
            ThrowTerminatingError(new ErrorRecord(new IOException($"'{full}' already exists. Choose another path, or pass -Force to replace it."),
                "ImageExists", ErrorCategory.ResourceExists, full));
        }
        string fs = (FileSystem ?? "none").ToLowerInvariant();
        // Without -FileSystem the disk stays empty unless -PartitionStyle is given explicitly.
        var style = fs == "none" && !MyInvocation.BoundParameters.ContainsKey(nameof(PartitionStyle)) ? GuestPartitionStyle.None : PartitionStyle;
        if (fs == "xfs" && Size < 300L * 1024 * 1024)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"XFS needs at least 300 MiB; -Size is {Size / (1024 * 1024)} MiB. Use a larger -Size or another -FileSystem."),
                "ImageTooSmallForFileSystem", ErrorCategory.InvalidArgument, Size));
        if (Label is not null && fs == "none")
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Label names a filesystem; give -FileSystem too."), "LabelWithoutFileSystem", ErrorCategory.InvalidArgument, Label));
        if (!ShouldProcess(full, $"Create {Format} disk image of {Size / (1024 * 1024)} MiB" + (style == GuestPartitionStyle.None ? "" : $", {style} partition table") + (fs == "none" ? "" : $", {fs} filesystem"))) return;

        const int id = ProgressActivity.NewDiskImage;
        string tmp = full + ".guestfs-partial";
        try
        {
            WriteProgress(new ProgressRecord(id, $"Creating {System.IO.Path.GetFileName(full)}", "creating the image file") { PercentComplete = 5 });
            Run(ct => DiskImage.CreateAsync(tmp, Size, Format, overwrite: true, ct));
            if (fs != "none" || style != GuestPartitionStyle.None)
            {
                var options = GuestSessionOptions.FromEnvironment();
                if (MyInvocation.BoundParameters.ContainsKey("Debug")) options = options with { Debug = true };
                using var session = new GuestSession(options);
                session.AddDrive(tmp, new DriveOptions { Format = Format, ReadOnly = false, CacheMode = "unsafe" });
                session.LaunchProgress += (_, e) => Post(() => WriteProgress(new ProgressRecord(id, $"Creating {System.IO.Path.GetFileName(full)}", "appliance: " + e.Description) { PercentComplete = 10 + e.PercentComplete * 7 / 10 }));
                Run(async ct =>
                {
                    await session.LaunchAsync(ct).ConfigureAwait(false);
                    string device = "/dev/sda";
                    if (style != GuestPartitionStyle.None)
                    {
                        Post(() => WriteProgress(new ProgressRecord(id, $"Creating {System.IO.Path.GetFileName(full)}", "partitioning") { PercentComplete = 85 }));
                        await session.PartDiskAsync(device, style == GuestPartitionStyle.GPT ? "gpt" : "mbr", ct).ConfigureAwait(false);
                        device = "/dev/sda1";
                    }
                    if (fs != "none")
                    {
                        Post(() => WriteProgress(new ProgressRecord(id, $"Creating {System.IO.Path.GetFileName(full)}", $"making {fs}") { PercentComplete = 90 }));
                        await session.MkfsAsync(fs, device, label: string.IsNullOrEmpty(Label) ? null : Label, cancellationToken: ct).ConfigureAwait(false);
                    }
                    await session.ShutdownAsync(ct).ConfigureAwait(false);
                }, session);
            }
            File.Move(tmp, full, overwrite: Force.IsPresent);
            try { WriteObject(SessionState.InvokeProvider.Item.Get(new[] { WildcardPattern.Escape(full) }, false, true), true); }
            catch (Exception) { WriteObject(new FileInfo(full)); }
        }
        catch (Exception e)
        {
            try { File.Delete(tmp); } catch { }
            if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            ThrowTerminatingError(ToErrorRecord(e, "NewDiskImageFailed", full));
        }
        finally
        {
            WriteProgress(new ProgressRecord(id, "Creating disk image", "done") { RecordType = ProgressRecordType.Completed });
        }
    }
}
