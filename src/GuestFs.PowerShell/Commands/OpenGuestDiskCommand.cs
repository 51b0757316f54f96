using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Threading.Tasks;
using System.Linq;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>Opens disk images in a new appliance session (read-only unless -Writable).</summary>
[Cmdlet(VerbsCommon.Open, "GuestDisk", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestDisk))]
public sealed partial class OpenGuestDiskCommand : GuestCmdlet
{
    private readonly List<string> _paths = new();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true)]
    [Parameter(ParameterSetName = "Uri")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>
    /// Network disks in guestfish's -a URI forms (nbd://, nbd+unix://, ssh://, http(s)://,
    /// ftp(s)://, iscsi://, rbd://, gluster://); with -Path they join the same session after the files.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = "Uri")]
    [ValidateNotNullOrEmpty]
    public string[] Uri { get; set; } = Array.Empty<string>();

    /// <summary>User and password for protocols that take them (iSCSI CHAP, http/ftp basic, Ceph key).</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Accept any TLS certificate for https:// and ftps:// disks.</summary>
    [Parameter]
    public SwitchParameter SkipCertificateCheck { get; set; }

    /// <summary>The ssh:// server's host key fingerprint (SHA256:… as ssh-keygen -l prints it), checked instead of known_hosts.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SshHostKey { get; set; }

    /// <summary>Pass discards (fstrim) from the guest down to the images.</summary>
    [Parameter]
    public SwitchParameter Discard { get; set; }

    /// <summary>Copy what is read into the top image (the local overlay when read-only).</summary>
    [Parameter]
    public SwitchParameter CopyOnRead { get; set; }

    /// <summary>Sector size the guest sees: 512 or 4096.</summary>
    [Parameter]
    [ValidateSet("512", "4096")]
    public int BlockSize { get; set; }

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

    /// <summary>Give the appliance a network (qemu user networking), for Install-GuestPackage and guest commands that download.</summary>
    [Parameter]
    public SwitchParameter Network { get; set; }

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
        if (IsDomainSet) return; // -DomainXml / -Domain: the domain names the disks (EndProcessing)
        if (ParameterSetName == "Uri")
        {
            // -Path given with -Uri: the files come first in the same session.
            if (Path.Length > 0) _paths.AddRange(ResolveImages(Path, false, oneSession: true));
            return;
        }
        bool literal = ParameterSetName == "LiteralPath";
        _paths.AddRange(ResolveImages(literal ? LiteralPath : Path, literal, oneSession: true));
    }

    /// <summary>-Credential's user and password for network disks (null for an empty one).</summary>
    private (string? User, string? Secret) CredentialParts()
    {
        var net = Credential?.GetNetworkCredential();
        return (net?.UserName is { Length: > 0 } name ? name : null, net?.Password is { Length: > 0 } pw ? pw : null);
    }

    protected override void EndProcessing()
    {
        var sources = new List<DriveSource>();
        var credential = CredentialParts();
        foreach (var u in Uri)
        {
            try
            {
                // -SkipCertificateCheck and -SshHostKey are for the URIs of their schemes only,
                // so one call can mix them with others.
                bool tls = u.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || u.StartsWith("ftps://", StringComparison.OrdinalIgnoreCase);
                bool ssh = u.StartsWith("ssh://", StringComparison.OrdinalIgnoreCase);
                sources.Add(DriveUri.Parse(u, credential.User, credential.Secret, SkipCertificateCheck.IsPresent && tls, ssh ? SshHostKey : null));
            }
            catch (ArgumentException e)
            {
                Terminate(e, "BadDiskUri", DriveUri.Redact(u));
                return;
            }
        }
        if (SkipCertificateCheck.IsPresent && !sources.Any(x => x is CurlDriveSource { Protocol: "https" or "ftps" }))
        {
            Terminate(new ArgumentException("-SkipCertificateCheck applies only to https:// and ftps:// disks given with -Uri"), "BadDiskUri", null);
            return;
        }
        if (SshHostKey is not null && !sources.Any(x => x is SshDriveSource))
        {
            Terminate(new ArgumentException("-SshHostKey applies only to ssh:// disks given with -Uri"), "BadDiskUri", null);
            return;
        }
        var driveOptions = new DriveOptions
        {
            Format = Format, ReadOnly = !Writable.IsPresent, Discard = Discard.IsPresent, CopyOnRead = CopyOnRead.IsPresent,
            BlockSize = BlockSize > 0 ? BlockSize : null,
        };
        var drives = new List<(DriveSource Source, DriveOptions Options)>();
        if (IsDomainSet)
        {
            var domainDrives = DomainDrives(driveOptions); // OpenGuestDiskCommand.Domain.cs
            if (domainDrives is null) return;
            drives.AddRange(domainDrives);
        }
        drives.AddRange(sources.Select(x => (x, driveOptions)));
        if (_paths.Count == 0 && drives.Count == 0) return;
        var names = new List<string>(_paths);
        names.AddRange(drives.Select(x => x.Source.Display));
        sources = drives.Select(x => x.Source).ToList();
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
        if (Network.IsPresent) options = options with { Network = true };

        var session = new GuestSession(options);
        try
        {
            foreach (var p in _paths)
                session.AddDrive(p, driveOptions);
            foreach (var (src, perDrive) in drives)
                session.AddDrive(src, perDrive);
        }
        catch (Exception e)
        {
            session.Dispose();
            Terminate(e, e is FileNotFoundException ? "DiskImageNotFound" : "AddDriveFailed", names.Count == 1 ? names[0] : names.ToArray());
            return;
        }

        const int activityId = ProgressActivity.OpenDisk;
        string activity = $"Opening {(names.Count == 1 ? (sources.Count == 1 ? names[0] : System.IO.Path.GetFileName(names[0])) : $"{names.Count} disk images")}";
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
            string id = e switch
            {
                OperationCanceledException => "LaunchCancelled",
                DriveSourceException => "RemoteDiskUnavailable",
                _ => "LaunchFailed",
            };
            Terminate(e, id, e is DriveSourceException ds ? ds.DriveSource.Display : names.Count == 1 ? names[0] : names.ToArray());
            return;
        }
        finally
        {
            session.LaunchProgress -= onStage;
            WriteProgress(new ProgressRecord(activityId, activity, "done") { RecordType = ProgressRecordType.Completed });
        }
        var disk = new GuestDisk(session, names.ToArray(), !Writable.IsPresent, Label);
        AfterLaunch(disk); // -Passphrase, -Inspect (OpenGuestDiskCommand.Inspect.cs); closes the session on failure
        WarnAboutBlankImages(disk);
        GuestDiskRegistry.Add(disk);
        NewLetterDrives(disk); // -PSDrive (OpenGuestDiskCommand.Windows.cs)
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
