using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace GuestFs.Engine.Launch;

/// <summary>The guest named the disks in another order than they were added (a warm launch retries or boots cold).</summary>
internal sealed class DiskOrderException : System.IO.IOException
{
    public DiskOrderException(string message) : base(message) { }
}

/// <summary>
/// Proves that the guest's /dev/sdX names follow the order the drives were
/// added in: drive N must be the disk the kernel calls sd(N) and sit at SCSI
/// target N (the scsi-id every launch path gives it). A session whose names
/// disagree would send a write meant for one image to another.
/// </summary>
internal static class DiskOrder
{
    /// <summary>
    /// Run by the appliance's shell (debug sh): one line per SCSI disk, its kernel
    /// name and its host:channel:target:lun address from sysfs.
    /// </summary>
    public const string SysfsScript =
        "for d in /sys/block/sd*; do [ -e \"$d/device\" ] && echo \"${d##*/} $(basename \"$(readlink \"$d/device\")\")\"; done; true";

    /// <summary>libguestfs's drive name: 0 → a, 25 → z, 26 → aa.</summary>
    public static string DriveName(int index)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index));
        var sb = new StringBuilder();
        for (int i = index; ; i = i / 26 - 1)
        {
            sb.Insert(0, (char)('a' + i % 26));
            if (i < 26) break;
        }
        return sb.ToString();
    }

    /// <summary>
    /// Parses <see cref="SysfsScript"/>'s output into kernel name → SCSI target.
    /// Lines that do not have that shape are ignored.
    /// </summary>
    public static Dictionary<string, int> Parse(string output)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var raw in output.Split('\n'))
        {
            var parts = raw.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !parts[0].StartsWith("sd", StringComparison.Ordinal)) continue;
            var hctl = parts[1].Split(':');
            if (hctl.Length != 4 || !int.TryParse(hctl[2], NumberStyles.None, CultureInfo.InvariantCulture, out int target)) continue;
            map[parts[0]] = target;
        }
        return map;
    }

    /// <summary>
    /// Null when the n-th drive (in <paramref name="targets"/>, the SCSI target each
    /// was given) is the kernel's sd(n) for every n and no other disk is present;
    /// otherwise what is wrong.
    /// </summary>
    public static string? Check(string output, IReadOnlyList<int> targets)
    {
        var map = Parse(output);
        if (map.Count != targets.Count)
            return $"the guest has {map.Count} SCSI disk(s) for {targets.Count} drive(s) ({Describe(map)})";
        for (int n = 0; n < targets.Count; n++)
        {
            string name = "sd" + DriveName(n);
            if (!map.TryGetValue(name, out int target))
                return $"/dev/{name} is missing ({Describe(map)})";
            if (target != targets[n])
                return $"/dev/{name} is SCSI target {target}, but drive {n} is target {targets[n]} ({Describe(map)})";
        }
        return null;
    }

    private static string Describe(Dictionary<string, int> map)
    {
        var items = new List<string>();
        foreach (var kv in map) items.Add($"{kv.Key}=target {kv.Value}");
        items.Sort(StringComparer.Ordinal);
        return items.Count == 0 ? "none" : string.Join(", ", items);
    }

    /// <summary>
    /// Null when the daemon's device list is exactly /dev/sda … for <paramref name="count"/>
    /// drives (a name translation built from an incomplete view of the disks shows as
    /// a repeated or missing name); otherwise what is wrong.
    /// </summary>
    public static string? CheckNames(IReadOnlyList<string> devices, int count)
    {
        var expected = new List<string>();
        for (int n = 0; n < count; n++) expected.Add("/dev/sd" + DriveName(n));
        var got = new List<string>(devices);
        got.Sort(StringComparer.Ordinal);
        expected.Sort(StringComparer.Ordinal);
        return got.Count == expected.Count && got.TrueForAll(x => expected.Contains(x)) && new HashSet<string>(got).Count == got.Count
            ? null
            : $"the daemon lists [{string.Join(", ", devices)}] for {count} drive(s)";
    }
}
