using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Mounts a guest filesystem inside the appliance.</summary>
[Cmdlet("Mount", "GuestFs", SupportsShouldProcess = true)]
[OutputType(typeof(GuestMountInfo))]
public sealed class MountGuestFsCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Mountable")]
    [ArgumentCompleter(typeof(GuestDeviceCompleter))]
    [ValidateNotNullOrEmpty]
    public string Device { get; set; } = "";

    /// <summary>Where to mount it in the guest tree; the first mount must be "/".</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string MountPoint { get; set; } = "/";

    /// <summary>Mount read-only even on a writable session.</summary>
    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    /// <summary>Mount options passed to mount -o (for example "noatime" or "ro,norecovery").</summary>
    [Parameter]
    public string? Options { get; set; }

    /// <summary>Unlock the (LUKS/BitLocker) device with this passphrase first and mount the decrypted device.</summary>
    [Parameter]
    public System.Security.SecureString? Passphrase { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Mount even when another filesystem is already mounted on the mount point (it is hidden under the new one).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Also create a GuestFs drive of this name (global scope) rooted at the mount point.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PSDrive { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        string mp = MountPoint;
        if (!mp.StartsWith('/'))
        {
            WriteError(new ErrorRecord(new ArgumentException($"The mount point '{mp}' must be an absolute guest path such as / or /boot"),
                "MountPointNotAbsolute", ErrorCategory.InvalidArgument, mp));
            return;
        }
        mp = mp.Length > 1 ? mp.TrimEnd('/') : mp;
        if (!Force.IsPresent)
        {
            // A second filesystem on a used mount point hides the first one: the tree would
            // depend on the order filesystems were piped in. Refuse unless asked for.
            Engine.Library.GuestMountInfo[] mounts;
            try { mounts = Run(ct => disk.Session.GetMountsAsync(ct), disk.Session); }
            catch (Exception e) { WriteError(ToErrorRecord(e, "MountFailed", Device)); return; }
            var used = Array.Find(mounts, m => m.MountPoint == mp);
            if (used is not null)
            {
                WriteError(new ErrorRecord(new InvalidOperationException(
                    $"{used.Device} is already mounted on {mp}, so {Device} is not mounted there. Mount {Device} somewhere else (Mount-GuestFs {Device} -MountPoint /mnt after New-GuestItem /mnt -ItemType Directory), dismount the first with Dismount-GuestFs {mp}, or add -Force to mount over it. To mount an installed system as it mounts itself, use Open-GuestDisk -Inspect."),
                    "MountPointInUse", ErrorCategory.ResourceBusy, Device));
                return;
            }
        }
        if (!ShouldProcess($"{Device} on {mp}", PSDrive is null ? "Mount guest filesystem" : $"Mount guest filesystem and create drive {PSDrive}:")) return;
        // On a read-only session the disk is behind an overlay, so a read-write
        // mount is harmless; -ReadOnly asks the kernel for a read-only mount too.
        bool ro = ReadOnly.IsPresent;
        string opts = Options ?? "";
        if (ro && !ContainsOption(opts, "ro")) opts = opts.Length == 0 ? "ro" : "ro," + opts;
        string device = Device;
        if (Passphrase is not null)
        {
            try
            {
                device = Run(ct => disk.Session.UnlockAsync(Device, Passphrase, ct), disk.Session);
                WriteVerbose($"unlocked {Device} as {device}");
            }
            catch (Exception e)
            {
                var rec = ToErrorRecord(e, "UnlockFailed", Device);
                if (e is Engine.Protocol.GuestFsException { ErrnoName: not "EPIPE" })
                    rec = new ErrorRecord(e, "UnlockFailed", ErrorCategory.AuthenticationError, Device)
                    {
                        ErrorDetails = new ErrorDetails($"Cannot unlock {Device}: {e.Message}. Check the passphrase and that the device is encrypted (Get-GuestFileSystem -All shows crypto_LUKS)."),
                    };
                WriteError(rec);
                return;
            }
        }
        try
        {
            Run(ct => disk.Session.MountOptionsAsync(opts, device, mp, ct), disk.Session);
        }
        catch (Exception e)
        {
            var rec = ToErrorRecord(e, "MountFailed", Device);
            if (e is Engine.Protocol.GuestFsException g && g.DaemonMessage.Contains("mount' first", StringComparison.Ordinal))
                rec.ErrorDetails = new ErrorDetails($"{g.Message} Mount the root filesystem at / first: Mount-GuestFs -Device <root device> -MountPoint /");
            else if (e is Engine.Protocol.GuestFsException)
                rec.ErrorDetails = new ErrorDetails($"Cannot mount {Device} on {mp}: {e.Message}. Check the device with Get-GuestFileSystem; the mount point must exist in the already mounted tree.");
            WriteError(rec);
            return;
        }
        if (PSDrive is not null) NewDrive(disk, mp);
        if (PassThru.IsPresent)
            WriteObject(new GuestMountInfo { Device = device, MountPoint = mp });
    }

    /// <summary>
    /// The -PSDrive drive: global, so it outlives this command (and the script
    /// that ran it); it does not own the disk, so removing it closes nothing.
    /// </summary>
    private void NewDrive(GuestDisk disk, string mountPoint)
    {
        try
        {
            var provider = SessionState.Provider.GetOne(Provider.GuestFsProvider.ProviderName);
            var drive = new Provider.GuestFsDriveInfo(PSDrive!, provider, disk, mountPoint,
                $"{Device} on {mountPoint} (GuestDisk {disk.Id})", null, ownsDisk: false);
            SessionState.Drive.New(drive, "global");
            WriteVerbose($"drive {PSDrive}: is {mountPoint} on GuestDisk {disk.Id}");
        }
        catch (Exception e) when (e is SessionStateException or ArgumentException or ProviderInvocationException or PSInvalidOperationException)
        {
            WriteError(new ErrorRecord(e, "NewDriveFailed", e is SessionStateException { ErrorRecord.CategoryInfo.Category: ErrorCategory.ResourceExists } ? ErrorCategory.ResourceExists : ErrorCategory.InvalidArgument, PSDrive));
        }
    }

    private static bool ContainsOption(string opts, string o) =>
        Array.Exists(opts.Split(','), x => x.Trim() == o);
}
