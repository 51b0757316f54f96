using System;
using System.Collections.Generic;

namespace GuestFs.Engine.Session;

/// <summary>The session's life cycle, as libguestfs defines it (plus Closed).</summary>
public enum GuestSessionState
{
    /// <summary>Drives and settings may be changed; no appliance runs.</summary>
    Config = 0,
    /// <summary>The appliance is booting.</summary>
    Launching = 1,
    /// <summary>The daemon answers calls.</summary>
    Ready = 2,
    /// <summary>Disposed; nothing can be done any more.</summary>
    Closed = 3,
}

/// <summary>Which hardware accelerator qemu uses.</summary>
public enum AcceleratorKind
{
    /// <summary>KVM when it is present and passes a quick boot probe, else TCG.</summary>
    Auto = 0,
    /// <summary>Hardware virtualisation; the launch fails if it does not work.</summary>
    Kvm = 1,
    /// <summary>Software emulation; always works, slower.</summary>
    Tcg = 2,
}

/// <summary>How one disk image is attached.</summary>
public sealed record DriveOptions
{
    /// <summary>Image format (<c>raw</c>, <c>qcow2</c> …); null lets qemu-img detect it.</summary>
    public string? Format { get; init; }

    /// <summary>True (the default) attaches the image through a throw-away overlay so it is never modified.</summary>
    public bool ReadOnly { get; init; } = true;

    /// <summary>Optional label (1–20 letters); the guest sees <c>/dev/disk/guestfs/LABEL</c>.</summary>
    public string? Label { get; init; }

    /// <summary><c>writeback</c> (default, safe) or <c>unsafe</c> (faster, for scratch disks).</summary>
    public string? CacheMode { get; init; }

    /// <summary>
    /// Pass the guest's discard/TRIM through to the image file (qemu
    /// <c>discard=unmap</c>), so fstrim and blkdiscard free space in it; as
    /// libguestfs's <c>add_drive discard:enable</c>. Writable drives only.
    /// </summary>
    public bool Discard { get; init; }
}

/// <summary>A drive as added to a session.</summary>
public sealed record Drive(int Index, string Path, DriveOptions Options)
{
    /// <summary>The device name callers use for it: /dev/sda, /dev/sdb …</summary>
    public string DeviceName => GuestDeviceNames.FromIndex(Index);
}

/// <summary>Daemon progress for the running call.</summary>
public sealed class GuestProgressEventArgs : EventArgs
{
    public GuestProgressEventArgs(int procedure, string procedureName, uint serial, ulong position, ulong total)
    {
        Procedure = procedure; ProcedureName = procedureName; Serial = serial; Position = position; Total = total;
    }
    public int Procedure { get; }
    public string ProcedureName { get; }
    public uint Serial { get; }
    public ulong Position { get; }
    public ulong Total { get; }
    /// <summary>True for pulse-mode progress (position 0 of 1 until the end).</summary>
    public bool IsPulse => Total == 1;
}

/// <summary>Launch stages reported while the appliance boots.</summary>
public enum LaunchStage
{
    Preparing,
    BuildingAppliance,
    ProbingAccelerator,
    StartingQemu,
    Booting,
    WaitingForDaemon,
    Ready,
}

public sealed class LaunchProgressEventArgs : EventArgs
{
    public LaunchProgressEventArgs(LaunchStage stage, string description, TimeSpan elapsed)
    {
        Stage = stage; Description = description; Elapsed = elapsed;
    }
    public LaunchStage Stage { get; }
    public string Description { get; }
    public TimeSpan Elapsed { get; }
    /// <summary>Rough percentage for a progress bar.</summary>
    public int PercentComplete => Stage switch
    {
        LaunchStage.Preparing => 0,
        LaunchStage.BuildingAppliance => 5,
        LaunchStage.ProbingAccelerator => 15,
        LaunchStage.StartingQemu => 20,
        LaunchStage.Booting => 30,
        LaunchStage.WaitingForDaemon => 60,
        _ => 100,
    };
}

/// <summary>Severity of an engine message.</summary>
public enum MessageLevel { Debug, Verbose, Warning }

public sealed class GuestMessageEventArgs : EventArgs
{
    public GuestMessageEventArgs(MessageLevel level, string message) { Level = level; Message = message; }
    public MessageLevel Level { get; }
    public string Message { get; }
}

public sealed class StateChangedEventArgs : EventArgs
{
    public StateChangedEventArgs(GuestSessionState oldState, GuestSessionState newState, string? reason)
    {
        OldState = oldState; NewState = newState; Reason = reason;
    }
    public GuestSessionState OldState { get; }
    public GuestSessionState NewState { get; }
    public string? Reason { get; }
}

/// <summary>Timings of one launch, for the session object and the benchmark report.</summary>
public sealed record LaunchTimings
{
    /// <summary>"warm" (a saved appliance restored, disks hot-plugged) or "cold" (booted).</summary>
    public string Mode { get; init; } = "cold";
    public TimeSpan Appliance { get; init; }
    public TimeSpan AcceleratorProbe { get; init; }
    public TimeSpan QemuStart { get; init; }
    public TimeSpan Boot { get; init; }
    public TimeSpan Total { get; init; }
    public IReadOnlyDictionary<string, TimeSpan> Extra { get; init; } = new Dictionary<string, TimeSpan>();
}

/// <summary>Device-name rules libguestfs applies on the library side.</summary>
public static class GuestDeviceNames
{
    /// <summary>0 → /dev/sda, 25 → /dev/sdz, 26 → /dev/sdaa …</summary>
    public static string FromIndex(int index)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index));
        var chars = new List<char>();
        int n = index;
        do
        {
            chars.Insert(0, (char)('a' + n % 26));
            n = n / 26 - 1;
        } while (n >= 0);
        return "/dev/sd" + new string(chars.ToArray());
    }

    /// <summary>/dev/sda → 0; -1 when the name is not a whole-disk /dev/sdX name.</summary>
    public static int ToIndex(string device)
    {
        if (device is null || !device.StartsWith("/dev/sd", StringComparison.Ordinal)) return -1;
        var s = device.AsSpan(7);
        if (s.Length == 0) return -1;
        int n = 0;
        foreach (char c in s)
        {
            if (c < 'a' || c > 'z') return -1;
            n = n * 26 + (c - 'a' + 1);
        }
        return n - 1;
    }

    /// <summary>
    /// libguestfs's canonical_device_name rule for plain names: /dev/hdX,
    /// /dev/vdX and /dev/xvdX become /dev/sdX (partition suffix kept).
    /// </summary>
    public static string Canonical(string device)
    {
        if (device is null) throw new ArgumentNullException(nameof(device));
        foreach (var prefix in new[] { "/dev/hd", "/dev/vd", "/dev/xvd" })
        {
            if (device.StartsWith(prefix, StringComparison.Ordinal) && device.Length > prefix.Length &&
                device[prefix.Length] >= 'a' && device[prefix.Length] <= 'z')
                return "/dev/sd" + device.Substring(prefix.Length);
        }
        return device;
    }
}
