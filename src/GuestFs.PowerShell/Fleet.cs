using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

/// <summary>
/// How many appliance sessions to run at once when a cmdlet works through many
/// images (-Path with -ThrottleLimit), and why.
/// </summary>
public static class FleetThrottle
{
    /// <summary>
    /// Host memory one read-only session uses at its peak (qemu's resident set
    /// after inspection or a large copy, with the warm appliance's memory mapped
    /// copy-on-write; measured in docs/performance.md), rounded up.
    /// </summary>
    public const long MemoryPerSessionBytes = 600L * 1024 * 1024;

    /// <summary>
    /// The default: one session per core (a TCG appliance keeps one core busy
    /// while it works), but never more than the available memory holds, and at
    /// least one.
    /// </summary>
    public static (int Limit, string Reason) Default(int cores, long availableBytes)
    {
        int byMemory = availableBytes > 0 ? (int)Math.Max(1, availableBytes / MemoryPerSessionBytes) : int.MaxValue;
        int limit = Math.Max(1, Math.Min(Math.Max(1, cores), byMemory));
        string mem = availableBytes > 0
            ? string.Format(CultureInfo.InvariantCulture, "{0:N0} MB available, about {1} MB per session", availableBytes / (1024 * 1024), MemoryPerSessionBytes / (1024 * 1024))
            : "available memory unknown";
        return (limit, $"{cores} core(s), {mem}");
    }

    /// <summary>MemAvailable from /proc/meminfo, or 0 when it cannot be read.</summary>
    public static long ReadAvailableMemory(string meminfo = "/proc/meminfo")
    {
        try
        {
            foreach (var line in File.ReadLines(meminfo))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kb)) return kb * 1024;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}

/// <summary>
/// Base of the cmdlets that also take many images (-Path/-LiteralPath with
/// -ThrottleLimit): each image gets its own read-only session, at most
/// ThrottleLimit at once; results are written as each image finishes, with an
/// ImagePath property; a failing image is a non-terminating error naming it.
/// The machinery is GuestCmdlet's (ResolveImages, RunFleet), shared with
/// Copy-GuestItem -ImagePath.
/// </summary>
public abstract class FleetCmdlet : GuestCmdlet
{
    private readonly List<string> _images = new();

    /// <summary>Disk images to open one by one (wildcards allowed).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Disk images to open one by one, names taken as they are.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP", "FullName", "ImagePath")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>Disks on servers to open one by one, in Open-GuestDisk -Uri's forms (nbd://, http:// …).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Uri")]
    [ValidateNotNullOrEmpty]
    public string[] Uri { get; set; } = Array.Empty<string>();

    /// <summary>How many images to work on at once (default: from cores and free memory).</summary>
    [Parameter(ParameterSetName = "Path")]
    [Parameter(ParameterSetName = "LiteralPath")]
    [Parameter(ParameterSetName = "Uri")]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; }

    /// <summary>The images' format, when known (raw, qcow2 …); detected otherwise.</summary>
    [Parameter(ParameterSetName = "Path")]
    [Parameter(ParameterSetName = "LiteralPath")]
    [Parameter(ParameterSetName = "Uri")]
    [ValidatePattern("^[-_A-Za-z0-9]+$")]
    public string? Format { get; set; }

    /// <summary>True when the cmdlet was given images rather than an open session.</summary>
    protected bool IsFleet => ParameterSetName is "Path" or "LiteralPath" or "Uri";

    /// <summary>Collects the images of this pipeline input (called from ProcessRecord).</summary>
    protected void CollectImages()
    {
        if (ParameterSetName == "Uri")
        {
            _images.AddRange(CheckedUris(Uri));
            return;
        }
        _images.AddRange(ResolveImages(ParameterSetName == "LiteralPath" ? LiteralPath : Path, ParameterSetName == "LiteralPath"));
    }

    /// <summary>Works through the collected images (called from EndProcessing).</summary>
    protected void RunFleet(string what, Func<GuestSession, string, CancellationToken, Task<IReadOnlyList<object>>> work, string errorId, bool writable = false, bool network = false) =>
        RunFleet(_images, ThrottleLimit, Format, what, work, errorId, writable, network);

    /// <summary>
    /// Asks ShouldProcess once for each collected image (each only once, however often it was
    /// named), with <paramref name="action"/> as the action, and keeps only those confirmed: what
    /// a cmdlet that changes the images calls before RunFleet.
    /// </summary>
    protected void KeepConfirmedImages(string action)
    {
        var confirmed = _images.Distinct(StringComparer.Ordinal).Where(i => ShouldProcess(i, action)).ToList();
        _images.Clear();
        _images.AddRange(confirmed);
    }
}

/// <summary>A per-image failure with its own error id (for example NoOperatingSystem).</summary>
internal sealed class FleetImageException : Exception
{
    public FleetImageException(string errorId, ErrorCategory category, string message) : base(message)
    {
        ErrorId = errorId;
        Category = category;
    }

    public string ErrorId { get; }
    public ErrorCategory Category { get; }
}
