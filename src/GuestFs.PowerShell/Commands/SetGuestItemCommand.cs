using System;
using System.Globalization;
using System.Management.Automation;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Changes mode, owner, group and times of guest items.</summary>
[Cmdlet(VerbsCommon.Set, "GuestItem", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
[OutputType(typeof(GuestFileInfo))]
public sealed class SetGuestItemCommand : GuestPathCmdlet
{
    /// <summary>Permission bits as octal text ("0644", "755") or a number.</summary>
    [Parameter]
    public string? Mode { get; set; }

    /// <summary>Numeric owner uid.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Owner { get; set; } = -1;

    /// <summary>Numeric group gid.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Group { get; set; } = -1;

    [Parameter]
    public DateTime? LastWriteTime { get; set; }

    [Parameter]
    public DateTime? LastAccessTime { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        if (Mode is null && Owner < 0 && Group < 0 && LastWriteTime is null && LastAccessTime is null)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Nothing to change: give -Mode, -Owner, -Group, -LastWriteTime or -LastAccessTime."),
                "NothingToSet", ErrorCategory.InvalidArgument, null));
        if (Mode is not null && ParseMode(Mode) < 0)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Mode '{Mode}' is not an octal permission such as 0644 or 755."),
                "InvalidMode", ErrorCategory.InvalidArgument, Mode));
    }

    internal static int ParseMode(string text)
    {
        var t = text.Trim();
        if (t.StartsWith("0o", StringComparison.OrdinalIgnoreCase)) t = t.Substring(2);
        if (t.Length == 0 || t.Length > 5) return -1;
        int v = 0;
        foreach (char c in t) { if (c < '0' || c > '7') return -1; v = v * 8 + (c - '0'); }
        return v > 0xFFF ? -1 : v;
    }

    protected override void ProcessRecord()
    {
        foreach (var (_, disk, targets) in ResolveGivenPaths(reading: false, errorWhenNoMatch: false))
        {
            var s = disk.Session;
            foreach (var path in targets)
            {
                if (!RequireWritable(disk, path)) continue;
                try
                {
                    var item = Run(ct => s.GetItemAsync(path, ct), s);
                    if (item is null)
                    {
                        WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find guest path '{path}'."), "PathNotFound", ErrorCategory.ObjectNotFound, path));
                        continue;
                    }
                    if (!ShouldProcess(path, "Set guest item attributes")) continue;
                    // Owner first: the kernel clears setuid/setgid on an owner change.
                    if (Owner >= 0 || Group >= 0)
                    {
                        int uid = Owner >= 0 ? Owner : (int)item.Uid, gid = Group >= 0 ? Group : (int)item.Gid;
                        // lchown: change the link itself, never what it points at.
                        Run(ct => s.LchownAsync(uid, gid, path, ct), s);
                    }
                    if (Mode is not null)
                    {
                        // chmod follows links; a link's own mode means nothing on Linux.
                        if (item.ItemType == GuestItemType.SymbolicLink)
                            WriteWarning($"{path} is a symbolic link: -Mode was not applied (it would change '{item.Target}'). Set the mode on the target instead.");
                        else Run(ct => s.ChmodAsync(ParseMode(Mode), path, ct), s);
                    }
                    if (LastWriteTime is not null || LastAccessTime is not null)
                    {
                        var at = ToUnix(LastAccessTime ?? item.LastAccessTime);
                        var mt = ToUnix(LastWriteTime ?? item.LastWriteTime);
                        Run(ct => s.UtimensAsync(path, at.Sec, at.Nsec, mt.Sec, mt.Nsec, ct), s);
                    }
                    if (PassThru.IsPresent)
                    {
                        var after = Run(ct => s.GetItemAsync(path, ct), s);
                        if (after is not null) WriteObject(after);
                    }
                }
                catch (Exception e)
                {
                    WriteError(ToErrorRecord(e, "SetItemFailed", path));
                }
            }
        }
    }

    private static (long Sec, long Nsec) ToUnix(DateTime t)
    {
        var off = t.Kind == DateTimeKind.Unspecified ? new DateTimeOffset(t, TimeZoneInfo.Local.GetUtcOffset(t)) : new DateTimeOffset(t.ToUniversalTime());
        long ticks = off.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        if (rem < 0) { sec--; rem += TimeSpan.TicksPerSecond; }
        return (sec, rem * 100);
    }
}
