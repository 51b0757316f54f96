using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Launch;

/// <summary>A user drive as qemu should open it (after any read-only overlay was made).</summary>
internal sealed record QemuDrive(int Index, string File, string? Format, bool Overlay, string CacheMode, string? Label, bool Discard = false);

/// <summary>Everything the qemu and kernel command lines are built from.</summary>
internal sealed record QemuLaunchPlan
{
    public required ApplianceFiles Appliance { get; init; }
    public required string SocketPath { get; init; }
    public required IReadOnlyList<QemuDrive> Drives { get; init; }
    public required int MemoryMB { get; init; }
    public required int Smp { get; init; }
    public required bool UseKvm { get; init; }
    public required bool Verbose { get; init; }
    public string? Append { get; init; }
    public string? LoopsPerJiffy { get; init; }
    public string? ApplianceOverlay { get; init; }

    // Warm relaunch (docs/warm.md): guest RAM in a file, a QMP socket, and for a
    // restore, start paused waiting for the migration stream.
    /// <summary>Guest RAM backed by this file (memory-backend-file), or null for anonymous RAM.</summary>
    public string? RamFile { get; init; }
    /// <summary>Map the RAM file shared (the VM being saved) or private copy-on-write (a restore).</summary>
    public bool RamShared { get; init; }
    public string? QmpSocket { get; init; }
    /// <summary>Start paused with -incoming defer (a restore).</summary>
    public bool Incoming { get; init; }
}

/// <summary>
/// Builds qemu's argument list (never a shell string) for the direct backend,
/// following libguestfs 1.48.6 with our own measured choices.
/// </summary>
internal static class QemuCommandLine
{
    /// <summary>qemu doubles commas inside a comma-separated option value.</summary>
    public static string Escape(string value) => value.Replace(",", ",,");

    public static List<string> Build(QemuLaunchPlan plan)
    {
        var a = new List<string>
        {
            "-global", "virtio-blk-pci.scsi=off",
            "-no-user-config", "-nodefaults",
            "-display", "none",
            "-machine", (plan.UseKvm ? "accel=kvm" : "accel=tcg") + (plan.RamFile is null ? "" : ",memory-backend=mem"),
            "-cpu", plan.UseKvm ? "host" : "max,la57=off",
            "-m", plan.MemoryMB.ToString(CultureInfo.InvariantCulture),
        };
        if (plan.RamFile is not null)
        {
            a.Add("-object");
            a.Add($"memory-backend-file,id=mem,size={plan.MemoryMB}M,mem-path={Escape(plan.RamFile)},share={(plan.RamShared ? "on" : "off")}");
        }
        if (plan.QmpSocket is not null) { a.Add("-qmp"); a.Add($"unix:{Escape(plan.QmpSocket)},server=on,wait=off"); }
        if (plan.Incoming) { a.Add("-S"); a.Add("-incoming"); a.Add("defer"); }
        if (plan.Smp > 1) { a.Add("-smp"); a.Add(plan.Smp.ToString(CultureInfo.InvariantCulture)); }
        a.AddRange(new[]
        {
            "-no-reboot",
            "-rtc", "driftfix=slew",
            "-no-hpet",
            "-global", "kvm-pit.lost_tick_policy=discard",
            "-kernel", plan.Appliance.Kernel,
            "-initrd", plan.Appliance.Initrd,
            "-object", "rng-random,filename=/dev/urandom,id=rng0",
            "-device", "virtio-rng-pci,rng=rng0",
            "-device", "virtio-scsi-pci,id=scsi",
        });
        foreach (var d in plan.Drives)
        {
            var drive = new StringBuilder();
            if (d.Overlay)
            {
                drive.Append("file=").Append(Escape(d.File)).Append(",format=qcow2,cache=unsafe");
            }
            else
            {
                drive.Append("file=").Append(Escape(d.File));
                if (d.Format is not null) drive.Append(",format=").Append(d.Format);
                drive.Append(",cache=").Append(d.CacheMode);
            }
            if (d.Discard) drive.Append(",discard=unmap");
            drive.Append(",id=hd").Append(d.Index).Append(",if=none");
            a.Add("-drive"); a.Add(drive.ToString());
            var dev = new StringBuilder("scsi-hd,drive=hd").Append(d.Index);
            if (d.Label is not null) dev.Append(",serial=").Append(d.Label);
            a.Add("-device"); a.Add(dev.ToString());
        }
        // The appliance root goes on virtio-blk (/dev/vda in the guest): the daemon
        // leaves it out of its listings and user disks keep /dev/sdX names.
        string rootDrive = plan.ApplianceOverlay is not null
            ? $"file={Escape(plan.ApplianceOverlay)},format=qcow2,cache=unsafe,id=appliance,if=none"
            : $"file={Escape(plan.Appliance.Root)},snapshot=on,id=appliance,cache=unsafe,if=none,format=raw";
        a.AddRange(new[]
        {
            "-drive", rootDrive,
            "-device", "virtio-blk-pci,drive=appliance",
            "-device", "virtio-serial-pci",
            "-serial", "stdio",
            "-chardev", $"socket,path={Escape(plan.SocketPath)},id=channel0",
            "-device", "virtserialport,chardev=channel0,name=org.libguestfs.channel.0",
            "-append", KernelCommandLine(plan),
        });
        return a;
    }

    private static readonly Regex TermRegex = new("^[A-Za-z0-9_-]{1,16}$", RegexOptions.CultureInvariant);

    public static string KernelCommandLine(QemuLaunchPlan plan)
    {
        var k = new List<string>
        {
            "panic=1", "console=ttyS0", "edd=off", "udevtimeout=6000", "udev.event-timeout=6000", "no_timer_check",
        };
        if (!plan.UseKvm && plan.LoopsPerJiffy is not null) k.Add("lpj=" + plan.LoopsPerJiffy);
        k.AddRange(new[]
        {
            "printk.time=1", "cgroup_disable=memory", "usbcore.nousb", "cryptomgr.notests", "tsc=reliable",
            "8250.nr_uarts=1", "root=UUID=" + plan.Appliance.RootUuid, "selinux=0",
            plan.Verbose ? "guestfs_verbose=1" : "quiet",
        });
        var term = Environment.GetEnvironmentVariable("TERM");
        k.Add("TERM=" + (term is not null && TermRegex.IsMatch(term) ? term : "linux"));
        if (!string.IsNullOrWhiteSpace(plan.Append)) k.Add(plan.Append!);
        return string.Join(" ", k);
    }
}
