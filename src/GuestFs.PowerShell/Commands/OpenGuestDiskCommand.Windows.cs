using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;

namespace GuestFs.PowerShell.Commands;

// Open-GuestDisk -Inspect on a Windows guest: keep its drive letters, so that
// C:\… paths given to the GuestFs cmdlets map to guest paths (WindowsPath).
public sealed partial class OpenGuestDiskCommand
{
    private void RememberWindowsDrives(GuestDisk disk, string root)
    {
        try
        {
            var letters = Run(async ct =>
            {
                if (await disk.Session.InspectGetTypeAsync(root, ct).ConfigureAwait(false) != "windows") return null;
                var map = await disk.Session.InspectGetDriveMappingsAsync(root, ct).ConfigureAwait(false);
                return map.ToDictionary(kv => kv.Key.ToUpperInvariant(), kv => kv.Value, StringComparer.OrdinalIgnoreCase);
            }, disk.Session);
            if (letters is null) return;
            disk.WindowsDrives = letters;
            disk.WindowsRoot = root;
            foreach (var kv in letters.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                WriteVerbose($"Windows drive {kv.Key}: is {kv.Value}");
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteWarning($"The drive letters of the Windows system {root} could not be read, so C:\\ paths will not work on this disk: {e.Message}");
        }
    }
}
