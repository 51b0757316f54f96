using System;
using System.Collections.Generic;
using System.Linq;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

/// <summary>
/// An open GuestFs session as PowerShell users see it. Everything on it is
/// plain data (it serialises usefully over remoting); the live engine session
/// stays internal. Output objects name their disk by <see cref="Id"/> (so JSON,
/// CSV and remoting carry a number, not the session); a -Disk parameter takes
/// that number too (<see cref="GuestDiskConverter"/>).
/// </summary>
[System.ComponentModel.TypeConverter(typeof(GuestDiskConverter))]
public sealed class GuestDisk
{
    internal GuestDisk(GuestSession session, string[] paths, bool readOnly, string? label)
    {
        Session = session;
        Paths = paths;
        ReadOnly = readOnly;
        Label = label;
    }

    internal GuestSession Session { get; }

    /// <summary>
    /// The Windows system Open-GuestDisk -Inspect mounted: drive letter (upper case) to
    /// device, from its registry; null when no Windows system was mounted that way.
    /// C:\… paths given to GuestFs cmdlets map through it (see WindowsPath).
    /// </summary>
    internal IReadOnlyDictionary<string, string>? WindowsDrives { get; set; }

    /// <summary>The root device of the Windows system Open-GuestDisk -Inspect mounted (null otherwise): its registry is the GuestRegistry provider's.</summary>
    internal string? WindowsRoot { get; set; }

    /// <summary>The registry hives of that system: their locations and uncommitted changes (see GuestRegistryState).</summary>
    internal Registry.GuestRegistryState Registry { get; } = new();

    /// <summary>What GuestFs drives on this disk have recently listed (see GuestItemCache).</summary>
    internal Provider.GuestItemCache Cache { get; } = new();

    /// <summary>Session number, unique in this PowerShell process.</summary>
    public int Id => Session.Id;

    /// <summary>The disk images, in device order (/dev/sda first).</summary>
    public string[] Paths { get; }

    /// <summary>Guest device names of the images (/dev/sda, /dev/sdb …).</summary>
    public string[] Devices => Session.Drives.Select(d => d.DeviceName).ToArray();

    public string? Label { get; }

    /// <summary>True unless the disk was opened with -Writable: changes go to a throw-away overlay.</summary>
    public bool ReadOnly { get; }

    public GuestSessionState State => Session.State;

    /// <summary>Kvm or Tcg once launched.</summary>
    public string? Accelerator => Session.AcceleratorInUse?.ToString();

    /// <summary>Why that accelerator was chosen.</summary>
    public string? AcceleratorReason => Session.AcceleratorReason;

    /// <summary>How long the launch took.</summary>
    public TimeSpan? LaunchTime => Session.LastLaunch?.Total;

    /// <summary>"warm" (the saved appliance was restored and the disks hot-plugged) or "cold" (booted).</summary>
    public string? LaunchMode => Session.LaunchMode;

    /// <summary>Why the launch booted cold instead of restoring the saved appliance.</summary>
    public string? WarmFallbackReason => Session.WarmFallbackReason;

    /// <summary>Seconds per launch stage (appliance, accelerator, warm-save, warm-restore, warm-first-reply, warm-hotplug, boot …).</summary>
    public System.Collections.Specialized.OrderedDictionary LaunchStages
    {
        get
        {
            var d = new System.Collections.Specialized.OrderedDictionary();
            if (Session.LastLaunch is { } l)
                foreach (var kv in l.Extra) d[kv.Key] = Math.Round(kv.Value.TotalSeconds, 3);
            return d;
        }
    }

    public DateTime? LaunchedAt => Session.LaunchedAt;

    public int MemoryMB => Session.Options.MemoryMB;

    public int Smp => Session.Options.Smp;

    /// <summary>Daemon calls (round trips) made so far.</summary>
    public long CallCount => Session.CallCount;

    /// <summary>The qemu process id while the appliance runs.</summary>
    public int? ProcessId => Session.QemuProcessId;

    public override string ToString() => $"GuestDisk {Id} ({string.Join(", ", Paths)})";
}

/// <summary>
/// The sessions open in this process (what Get-GuestDisk lists), each with the
/// runspace that opened it. A cmdlet without -Disk picks among its own
/// runspace's sessions only, so parallel runspaces (ForEach-Object -Parallel,
/// thread jobs) that each open a disk do not see each other's as ambiguous,
/// and Close-GuestDisk -All closes only its own runspace's sessions.
/// </summary>
internal static class GuestDiskRegistry
{
    private static readonly object s_lock = new();
    private static readonly List<(GuestDisk Disk, Guid? Runspace)> s_disks = new();

    private static Guid? Current => System.Management.Automation.Runspaces.Runspace.DefaultRunspace?.InstanceId;

    public static void Add(GuestDisk d) { var r = Current; lock (s_lock) s_disks.Add((d, r)); }

    public static void Remove(GuestDisk d) { lock (s_lock) s_disks.RemoveAll(x => ReferenceEquals(x.Disk, d)); }

    /// <summary>Every session of the process.</summary>
    public static GuestDisk[] All() { lock (s_lock) return s_disks.Select(x => x.Disk).ToArray(); }

    /// <summary>The sessions opened in the calling runspace.</summary>
    public static GuestDisk[] Mine()
    {
        var r = Current;
        lock (s_lock) return s_disks.Where(x => x.Runspace == r).Select(x => x.Disk).ToArray();
    }
}

/// <summary>
/// Lets -Disk take a session's Id (an int, or its text), as the Disk property of
/// Get-GuestFileSystem and Get-GuestOSInfo objects carries it: piping them to
/// Mount-GuestFs binds the open session with that Id.
/// </summary>
public sealed class GuestDiskConverter : System.Management.Automation.PSTypeConverter
{
    private static bool TryId(object? source, out int id)
    {
        if (source is System.Management.Automation.PSObject po) source = po.BaseObject;
        switch (source)
        {
            case int i: id = i; return true;
            case long l when l is >= int.MinValue and <= int.MaxValue: id = (int)l; return true;
            case string str when int.TryParse(str, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n): id = n; return true;
            default: id = 0; return false;
        }
    }

    public override bool CanConvertFrom(object sourceValue, Type destinationType) => destinationType == typeof(GuestDisk) && TryId(sourceValue, out _);

    public override object ConvertFrom(object sourceValue, Type destinationType, IFormatProvider formatProvider, bool ignoreCase)
    {
        if (!TryId(sourceValue, out int id)) throw new InvalidCastException($"'{sourceValue}' is not a GuestDisk or a GuestDisk Id.");
        return Array.Find(GuestDiskRegistry.All(), d => d.Id == id)
            ?? throw new InvalidCastException($"No open GuestDisk has Id {id}; Get-GuestDisk lists the open ones (a closed disk must be opened again with Open-GuestDisk).");
    }

    public override bool CanConvertTo(object sourceValue, Type destinationType) => false;

    public override object ConvertTo(object sourceValue, Type destinationType, IFormatProvider formatProvider, bool ignoreCase) =>
        throw new InvalidCastException();
}
