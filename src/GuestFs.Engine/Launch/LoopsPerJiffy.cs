using System;
using System.IO;
using System.Text.RegularExpressions;

namespace GuestFs.Engine.Launch;

/// <summary>
/// The host's loops-per-jiffy, passed to a TCG guest so it skips delay-loop
/// calibration (libguestfs does the same). Read once from the kernel log.
/// </summary>
internal static class LoopsPerJiffy
{
    private static readonly Lazy<string?> s_value = new(Read);
    private static readonly Regex Pattern = new(@"lpj=(\d+)", RegexOptions.CultureInvariant);

    public static string? Get() => s_value.Value;

    private static string? Read()
    {
        try
        {
            var dmesg = ExternalCommand.Find("dmesg");
            if (dmesg is not null)
            {
                var r = ExternalCommand.RunAsync(dmesg, Array.Empty<string>(), default, TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
                if (r.Success)
                {
                    var m = Pattern.Match(r.StandardOutput);
                    if (m.Success) return m.Groups[1].Value;
                }
            }
        }
        catch (Exception) { }
        foreach (var f in new[] { "/var/log/dmesg", "/var/log/boot.msg" })
        {
            try
            {
                if (!File.Exists(f)) continue;
                var m = Pattern.Match(File.ReadAllText(f));
                if (m.Success) return m.Groups[1].Value;
            }
            catch (Exception) { }
        }
        return null;
    }
}
