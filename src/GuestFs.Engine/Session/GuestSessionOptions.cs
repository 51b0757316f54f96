using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace GuestFs.Engine.Session;

/// <summary>
/// Launch settings. <see cref="FromEnvironment"/> reads the libguestfs
/// environment variables users already know; explicit settings win over them.
/// </summary>
public sealed record GuestSessionOptions
{
    /// <summary>Appliance RAM in MiB (minimum 256).</summary>
    public int MemoryMB { get; init; } = DefaultMemoryMB;

    /// <summary>Appliance vCPUs (1–255).</summary>
    public int Smp { get; init; } = DefaultSmp;


    public AcceleratorKind Accelerator { get; init; } = AcceleratorKind.Auto;

    /// <summary>Appliance search path (<c>:</c>-separated), as LIBGUESTFS_PATH.</summary>
    public string? AppliancePath { get; init; }

    /// <summary>Parent of the per-user appliance cache, as LIBGUESTFS_CACHEDIR.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Parent of the per-session private temp dir, as LIBGUESTFS_TMPDIR/TMPDIR.</summary>
    public string? TempDirectory { get; init; }

    /// <summary>qemu binary, as LIBGUESTFS_HV.</summary>
    public string? QemuPath { get; init; }

    /// <summary>Extra kernel command-line options, as LIBGUESTFS_APPEND.</summary>
    public string? Append { get; init; }

    /// <summary>
    /// Give the appliance a network (qemu user networking, DHCP in the appliance, the
    /// guest's commands resolve names through it), as guestfish --network. Such a session
    /// always boots cold: the saved appliance has no network card.
    /// </summary>
    public bool Network { get; init; }

    /// <summary>Verbose appliance (guestfsd --verbose, kernel messages), as LIBGUESTFS_DEBUG.</summary>
    public bool Debug { get; init; }

    /// <summary>Trace every call and result, as LIBGUESTFS_TRACE.</summary>
    public bool Trace { get; init; }

    /// <summary>How long to wait for the daemon's launch flag before giving up.</summary>
    public TimeSpan LaunchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Always boot a fresh appliance instead of restoring the saved one (warm
    /// relaunch, docs/warm.md); as GUESTFS_COLD_START=1.
    /// </summary>
    public bool ColdStart { get; init; }

    /// <summary>Unparsed LIBGUESTFS_BACKEND_SETTINGS entries (name or name=value).</summary>
    public IReadOnlyList<string> BackendSettings { get; init; } = Array.Empty<string>();

    // Measured on 2-core TCG hosts (docs/defaults.md): launch time is the same with
    // 1 or 2 vCPUs, but with 2 the vCPU threads compete with the host process and a
    // small call takes 0.5-2.8 ms instead of a steady 0.38-0.52 ms. Memory size made
    // no measurable difference between 512 and 1280 MiB; 1024 leaves headroom for
    // mkfs and large archives in an appliance without swap.
    public const int DefaultMemoryMB = 1024;

    /// <summary>1 vCPU on hosts with up to 2 cores, else 2.</summary>
    public static int DefaultSmp { get; } = Environment.ProcessorCount <= 2 ? 1 : 2;

    /// <summary>Reads LIBGUESTFS_* (and TMPDIR) from the process environment.</summary>
    public static GuestSessionOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Reads the variables through <paramref name="get"/> (testable).</summary>
    public static GuestSessionOptions FromEnvironment(Func<string, string?> get)
    {
        var o = new GuestSessionOptions();
        string? v;
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_MEMSIZE")))
        {
            if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int mem) || mem < 256)
                throw new ArgumentException($"LIBGUESTFS_MEMSIZE='{v}' is not a whole number of MiB of at least 256; unset it or set e.g. LIBGUESTFS_MEMSIZE=1024");
            o = o with { MemoryMB = mem };
        }
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_SMP")))
        {
            if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int smp) || smp < 1 || smp > 255)
                throw new ArgumentException($"LIBGUESTFS_SMP='{v}' must be a number of vCPUs from 1 to 255");
            o = o with { Smp = smp };
        }
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_PATH"))) o = o with { AppliancePath = v };
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_CACHEDIR"))) o = o with { CacheDirectory = v };
        else if (!string.IsNullOrEmpty(v = get("TMPDIR"))) o = o with { CacheDirectory = v };
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_TMPDIR"))) o = o with { TempDirectory = v };
        else if (!string.IsNullOrEmpty(v = get("TMPDIR"))) o = o with { TempDirectory = v };
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_HV")) || !string.IsNullOrEmpty(v = get("LIBGUESTFS_QEMU")))
            o = o with { QemuPath = v };
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_APPEND"))) o = o with { Append = v };
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_DEBUG"))) o = o with { Debug = ParseBool("LIBGUESTFS_DEBUG", v) };
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_TRACE"))) o = o with { Trace = ParseBool("LIBGUESTFS_TRACE", v) };
        if (!string.IsNullOrEmpty(v = get("GUESTFS_LAUNCH_TIMEOUT")))
        {
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double secs) || secs <= 0)
                throw new ArgumentException($"GUESTFS_LAUNCH_TIMEOUT='{v}' must be a positive number of seconds");
            o = o with { LaunchTimeout = TimeSpan.FromSeconds(secs) };
        }
        if (!string.IsNullOrEmpty(v = get("LIBGUESTFS_BACKEND_SETTINGS")))
        {
            var settings = v.Split(':', StringSplitOptions.RemoveEmptyEntries);
            o = o with { BackendSettings = settings };
            bool tcg = false, kvm = false;
            foreach (var s in settings)
            {
                var (name, value) = SplitSetting(s);
                if (name == "force_tcg") tcg = ParseBool("LIBGUESTFS_BACKEND_SETTINGS force_tcg", value);
                if (name == "force_kvm") kvm = ParseBool("LIBGUESTFS_BACKEND_SETTINGS force_kvm", value);
            }
            if (tcg && kvm)
                throw new ArgumentException("LIBGUESTFS_BACKEND_SETTINGS sets both force_tcg and force_kvm; keep one of them");
            if (tcg) o = o with { Accelerator = AcceleratorKind.Tcg };
            if (kvm) o = o with { Accelerator = AcceleratorKind.Kvm };
        }
        if (!string.IsNullOrEmpty(v = get("GUESTFS_COLD_START")))
            o = o with { ColdStart = ParseBool("GUESTFS_COLD_START", v) };
        if (!string.IsNullOrEmpty(v = get("GUESTFS_ACCELERATOR")))
        {
            if (!Enum.TryParse<AcceleratorKind>(v, true, out var acc))
                throw new ArgumentException($"GUESTFS_ACCELERATOR='{v}' must be Auto, Kvm or Tcg");
            o = o with { Accelerator = acc };
        }
        return o;
    }

    private static (string Name, string Value) SplitSetting(string s)
    {
        int eq = s.IndexOf('=');
        return eq < 0 ? (s, "1") : (s.Substring(0, eq), s.Substring(eq + 1));
    }

    /// <summary>libguestfs's boolean words: 1 true t yes y on / 0 false f no n off.</summary>
    public static bool ParseBool(string name, string value)
    {
        switch (value.Trim().ToLowerInvariant())
        {
            case "1": case "true": case "t": case "yes": case "y": case "on": return true;
            case "0": case "false": case "f": case "no": case "n": case "off": return false;
            default:
                throw new ArgumentException($"{name}='{value}' is not a boolean; use 1/true/yes/on or 0/false/no/off");
        }
    }

    /// <summary>Validates ranges; throws ArgumentException naming the setting.</summary>
    public void Validate()
    {
        if (MemoryMB < 256) throw new ArgumentException($"MemoryMB {MemoryMB} is too small: the appliance needs at least 256 MiB");
        if (Smp < 1 || Smp > 255) throw new ArgumentException($"Smp {Smp} must be from 1 to 255");
        if (LaunchTimeout <= TimeSpan.Zero) throw new ArgumentException("LaunchTimeout must be positive");
    }

    internal string ResolveTempParent()
    {
        var dir = TempDirectory;
        if (string.IsNullOrEmpty(dir)) dir = "/tmp";
        return Path.GetFullPath(dir);
    }
}
