using System;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Lists the filesystems on a session's disks.</summary>
/// <remarks>With -Path, lists the filesystems of many images, each in its own session, -ThrottleLimit at a time.</remarks>
[Cmdlet(VerbsCommon.Get, "GuestFileSystem", DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestFileSystemInfo))]
public sealed class GetGuestFileSystemCommand : FleetCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Disk")]
    public GuestDisk? Disk { get; set; }

    /// <summary>Only filesystems of these types (ext4, xfs, vfat …).</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Type { get; set; }

    /// <summary>Include entries with no mountable filesystem (type "unknown", swap) and encrypted devices (crypto_LUKS, BitLocker).</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void EndProcessing()
    {
        if (!IsFleet) return;
        bool all = All.IsPresent;
        var patterns = Type is null ? null : Array.ConvertAll(Type, t => new WildcardPattern(t, WildcardOptions.IgnoreCase));
        RunFleet("Listing filesystems", async (session, image, ct) =>
        {
            var list = await session.GetFileSystemsAsync(ct, includeEncrypted: all).ConfigureAwait(false);
            return list.Where(fs => Keep(fs, all, patterns)).Cast<object>().ToArray();
        }, "ListFileSystemsFailed");
    }

    private static bool Keep(GuestFileSystemInfo fs, bool all, WildcardPattern[]? patterns) =>
        (all || fs.Type is not ("unknown" or "swap")) && (patterns is null || Array.Exists(patterns, p => p.IsMatch(fs.Type)));

    protected override void ProcessRecord()
    {
        if (IsFleet) { CollectImages(); return; }
        var disk = ResolveDisk(Disk);
        GuestFileSystemInfo[] list;
        try
        {
            list = Run(ct => disk.Session.GetFileSystemsAsync(ct, includeEncrypted: All.IsPresent), disk.Session);
        }
        catch (Exception e)
        {
            WriteError(ToErrorRecord(e, "ListFileSystemsFailed", disk, reading: true));
            return;
        }
        var patterns = Type is null ? null : Array.ConvertAll(Type, t => new WildcardPattern(t, WildcardOptions.IgnoreCase));
        // Where each filesystem is mounted, and its free space there (what users ask next).
        var mounted = new System.Collections.Generic.Dictionary<string, (string MountPoint, long Free)>(StringComparer.Ordinal);
        try
        {
            foreach (var m in Run(ct => disk.Session.GetMountsAsync(ct), disk.Session))
            {
                if (mounted.ContainsKey(m.Device)) continue;
                var st = Run(ct => disk.Session.StatvfsAsync(m.MountPoint, ct), disk.Session);
                mounted[m.Device] = (m.MountPoint, st.Frsize * st.Bavail);
            }
        }
        catch (Exception e) when (e is Engine.Protocol.GuestFsException)
        {
            WriteVerbose($"free space not shown: {e.Message}");
        }
        foreach (var fs in list)
        {
            if (!Keep(fs, All.IsPresent, patterns)) continue;
            var o = PSObject.AsPSObject(fs);
            o.Properties.Add(new PSNoteProperty("Disk", disk.Id));  // an Id, not the session: objects travel (JSON, CSV, remoting)
            bool isMounted = mounted.TryGetValue(fs.Device, out var at);
            o.Properties.Add(new PSNoteProperty("MountPoint", isMounted ? at.MountPoint : null));
            o.Properties.Add(new PSNoteProperty("FreeSpace", isMounted ? at.Free : (long?)null));
            WriteObject(o);
        }
    }
}
