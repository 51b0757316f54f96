using System;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Lists the filesystems on a session's disks.</summary>
[Cmdlet(VerbsCommon.Get, "GuestFileSystem")]
[OutputType(typeof(GuestFileSystemInfo))]
public sealed class GetGuestFileSystemCommand : GuestCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>Only filesystems of these types (ext4, xfs, vfat …).</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Type { get; set; }

    /// <summary>Include entries with no mountable filesystem (type "unknown", swap) and encrypted devices (crypto_LUKS, BitLocker).</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
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
        foreach (var fs in list)
        {
            if (!All.IsPresent && fs.Type is "unknown" or "swap") continue;
            if (patterns is not null && !Array.Exists(patterns, p => p.IsMatch(fs.Type))) continue;
            var o = PSObject.AsPSObject(fs);
            o.Properties.Add(new PSNoteProperty("Disk", disk));
            WriteObject(o);
        }
    }
}
