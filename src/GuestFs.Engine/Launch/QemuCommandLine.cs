using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Launch;

/// <summary>
/// A user drive as qemu should open it (after any read-only overlay was made):
/// its source (the overlay file for a read-only drive), format and per-drive options.
/// </summary>
internal sealed record QemuDrive(int Index, DriveSource Source, string Format, bool Overlay, string CacheMode, string? Label)
{
    /// <summary>Pass the guest's discards (TRIM/UNMAP) to the image (libguestfs discard=enable).</summary>
    public bool Discard { get; init; }
    /// <summary>Copy what the guest reads into the top image (libguestfs copyonread).</summary>
    public bool CopyOnRead { get; init; }
    /// <summary>Logical and physical sector size the guest sees (512 or 4096), or null for qemu's default.</summary>
    public int? BlockSize { get; init; }
    /// <summary>The qemu secret object (id, 0600 file) holding the source's secret, or null.</summary>
    public (string Id, string File)? Secret { get; init; }

    /// <summary>The node the SCSI device attaches to.</summary>
    public string NodeName => "hd" + Index.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The blockdev nodes of this drive, bottom first; the last one is
    /// <see cref="NodeName"/>. The cold boot passes each as <c>-blockdev</c>, the
    /// warm launch as <c>blockdev-add</c>: the same JSON on both paths.
    /// </summary>
    public IReadOnlyList<JsonObject> BlockdevNodes()
    {
        var protocol = Source.ProtocolNode(Secret?.Id);
        if (Discard) protocol["discard"] = "unmap";
        var format = new JsonObject
        {
            ["driver"] = Format,
            ["node-name"] = CopyOnRead ? NodeName + "-fmt" : NodeName,
            ["cache"] = new JsonObject { ["direct"] = false, ["no-flush"] = CacheMode == "unsafe" },
            ["file"] = protocol,
        };
        if (Discard) format["discard"] = "unmap";
        if (!CopyOnRead) return new[] { format };
        return new[] { format, new JsonObject { ["driver"] = "copy-on-read", ["node-name"] = NodeName, ["file"] = NodeName + "-fmt" } };
    }

    /// <summary>The scsi-hd device's properties (the hot-plug adds an id).</summary>
    public JsonObject Device()
    {
        // The SCSI target is the drive's index on every launch path: the daemon
        // names disks by target order at boot, and DiskOrder checks it.
        var dev = new JsonObject
        {
            ["driver"] = "scsi-hd", ["drive"] = NodeName, ["bus"] = "scsi.0",
            ["channel"] = 0, ["scsi-id"] = Index, ["lun"] = 0,
        };
        if (Label is not null) dev["serial"] = Label;
        if (BlockSize is int b) { dev["logical_block_size"] = b; dev["physical_block_size"] = b; }
        return dev;
    }

    /// <summary>The secret object's properties (qom-type secret), or null.</summary>
    public JsonObject? SecretObject() => Secret is { } s
        ? new JsonObject { ["qom-type"] = "secret", ["id"] = s.Id, ["file"] = s.File, ["format"] = "raw" }
        : null;
}

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
    /// <summary>A virtio-net card on qemu's user network (libguestfs's 169.254.0.0/16) and guestfs_network=1.</summary>
    public bool Network { get; init; }
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
            if (d.SecretObject() is { } secret) { a.Add("-object"); a.Add(ObjectArgument(secret)); }
            foreach (var node in d.BlockdevNodes()) { a.Add("-blockdev"); a.Add(node.ToJsonString()); }
            a.Add("-device"); a.Add(DeviceArgument(d.Device()));
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
        });
        if (plan.Network)
        {
            // The appliance's init runs dhclient on the card when the kernel line says
            // guestfs_network=1, and guestfsd --network gives chrooted commands a resolv.conf.
            a.AddRange(new[] { "-netdev", "user,id=usernet,net=169.254.0.0/16", "-device", "virtio-net-pci,netdev=usernet" });
        }
        a.AddRange(new[] { "-append", KernelCommandLine(plan) });
        return a;
    }

    private static readonly Regex TermRegex = new("^[A-Za-z0-9_-]{1,16}$", RegexOptions.CultureInvariant);

    /// <summary>A device's JSON properties as qemu's -device key=value list (driver first).</summary>
    public static string DeviceArgument(JsonObject device) =>
        string.Join(",", new[] { device["driver"]!.GetValue<string>() }.Concat(
            device.Where(p => p.Key != "driver").Select(p => p.Key + "=" + Escape(Scalar(p.Value)))));

    /// <summary>An object's JSON properties as qemu's -object list (qom-type first).</summary>
    public static string ObjectArgument(JsonObject obj) =>
        string.Join(",", new[] { obj["qom-type"]!.GetValue<string>() }.Concat(
            obj.Where(p => p.Key != "qom-type").Select(p => p.Key + "=" + Escape(Scalar(p.Value)))));

    private static string Scalar(JsonNode? v) => v switch
    {
        JsonValue j when j.TryGetValue<bool>(out var b) => b ? "on" : "off",
        JsonValue j when j.TryGetValue<string>(out var s) => s,
        JsonValue j => j.ToJsonString(),
        _ => throw new ArgumentException("only scalar properties can be written as key=value"),
    };

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
        if (plan.Network) k.Add("guestfs_network=1");
        var term = Environment.GetEnvironmentVariable("TERM");
        k.Add("TERM=" + (term is not null && TermRegex.IsMatch(term) ? term : "linux"));
        if (!string.IsNullOrWhiteSpace(plan.Append)) k.Add(plan.Append!);
        return string.Join(" ", k);
    }
}
