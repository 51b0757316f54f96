using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>Opens disk images in a new appliance session (read-only unless -Writable).</summary>
[Cmdlet(VerbsCommon.Open, "GuestDisk", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestDisk))]
public sealed partial class OpenGuestDiskCommand : GuestCmdlet
{
    private readonly List<string> _paths = new();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>Image format (raw, qcow2, vmdk …); detected by qemu-img when omitted.</summary>
    [Parameter]
    [ValidatePattern("^[-_A-Za-z0-9]+$")]
    public string? Format { get; set; }

    /// <summary>Open the images for writing. Without it every change goes to a throw-away overlay.</summary>
    [Parameter]
    public SwitchParameter Writable { get; set; }

    /// <summary>Boot a fresh appliance instead of restoring the saved one (warm relaunch).</summary>
    [Parameter]
    public SwitchParameter ColdStart { get; set; }

    /// <summary>A name for the session, shown by Get-GuestDisk.</summary>
    [Parameter]
    public string? Label { get; set; }

    [Parameter]
    [ValidateRange(256, 1048576)]
    public int MemoryMB { get; set; }

    [Parameter]
    [ValidateRange(1, 255)]
    public int Smp { get; set; }

    [Parameter]
    public AcceleratorKind Accelerator { get; set; } = AcceleratorKind.Auto;

    protected override void ProcessRecord()
    {
        // All paths of one call form one session (one VM's disks): opening it without
        // one of them would be wrong, so a missing image stops the whole open.
        bool literal = ParameterSetName == "LiteralPath";
        _paths.AddRange(ResolveImages(literal ? LiteralPath : Path, literal, oneSession: true));
    }

    protected override void EndProcessing()
    {
        if (_paths.Count == 0) return;
        GuestSessionOptions options;
        try
        {
            options = GuestSessionOptions.FromEnvironment();
        }
        catch (ArgumentException e)
        {
            Terminate(e, "BadEnvironmentVariable", null);
            return;
        }
        if (MemoryMB > 0) options = options with { MemoryMB = MemoryMB };
        if (Smp > 0) options = options with { Smp = Smp };
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Accelerator))) options = options with { Accelerator = Accelerator };
        if (MyInvocation.BoundParameters.ContainsKey("Debug")) options = options with { Debug = true };
        if (ColdStart.IsPresent) options = options with { ColdStart = true };

        var session = new GuestSession(options);
        try
        {
            foreach (var p in _paths)
                session.AddDrive(p, new DriveOptions { Format = Format, ReadOnly = !Writable.IsPresent });
        }
        catch (Exception e)
        {
            session.Dispose();
            Terminate(e, e is FileNotFoundException ? "DiskImageNotFound" : "AddDriveFailed", _paths.Count == 1 ? _paths[0] : _paths.ToArray());
            return;
        }

        const int activityId = ProgressActivity.OpenDisk;
        string activity = $"Opening {(_paths.Count == 1 ? System.IO.Path.GetFileName(_paths[0]) : $"{_paths.Count} disk images")}";
        EventHandler<LaunchProgressEventArgs> onStage = (_, e) => Post(() =>
            WriteProgress(new ProgressRecord(activityId, activity, e.Description) { PercentComplete = e.PercentComplete }));
        session.LaunchProgress += onStage;
        try
        {
            Run(ct => session.LaunchAsync(ct), session);
        }
        catch (Exception e)
        {
            session.Dispose();
            Terminate(e, e is OperationCanceledException ? "LaunchCancelled" : "LaunchFailed", _paths.Count == 1 ? _paths[0] : _paths.ToArray());
            return;
        }
        finally
        {
            session.LaunchProgress -= onStage;
            WriteProgress(new ProgressRecord(activityId, activity, "done") { RecordType = ProgressRecordType.Completed });
        }
        var disk = new GuestDisk(session, _paths.ToArray(), !Writable.IsPresent, Label);
        AfterLaunch(disk); // -Passphrase, -Inspect (OpenGuestDiskCommand.Inspect.cs); closes the session on failure
        WarnAboutBlankImages(disk);
        GuestDiskRegistry.Add(disk);
        WriteVerbose($"GuestDisk {disk.Id}: {disk.Accelerator} ({disk.AcceleratorReason}), launched in {disk.LaunchTime?.TotalSeconds:0.00} s, {(disk.ReadOnly ? "read-only" : "writable")}");
        WriteObject(disk);
    }

    /// <summary>
    /// A file that is no disk image at all (a text file, a wrong path) opens as a
    /// blank raw disk: say so, rather than let Get-GuestFileSystem come back empty.
    /// </summary>
    private void WarnAboutBlankImages(GuestDisk disk)
    {
        try
        {
            var s = disk.Session;
            var parts = Run(ct => s.ListPartitionsAsync(ct), s);
            var devices = disk.Devices;
            for (int i = 0; i < devices.Length && i < disk.Paths.Length; i++)
            {
                string dev = devices[i];
                if (Array.Exists(parts, p => p.StartsWith(dev, StringComparison.Ordinal))) continue;
                try { Run(ct => s.PartGetParttypeAsync(dev, ct), s); continue; } // a partition table without partitions
                catch (Engine.Protocol.GuestFsException e) when (e is not Engine.Protocol.GuestFsProtocolException) { }
                string type = "";
                try { type = Run(ct => s.VfsTypeAsync(dev, ct), s); }
                catch (Engine.Protocol.GuestFsException e) when (e is not Engine.Protocol.GuestFsProtocolException) { }
                if (type.Length == 0)
                    WriteWarning($"'{disk.Paths[i]}' ({dev}) holds no partition table and no filesystem: it is blank, or not a disk image. Check the path (and -Format), or create a filesystem on it (New-GuestDiskImage makes new images).");
            }
        }
        catch (Engine.Protocol.GuestFsException e) when (e is not Engine.Protocol.GuestFsProtocolException)
        {
            WriteVerbose($"could not check the images for a partition table: {e.Message}");
        }
    }
}
