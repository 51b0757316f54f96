using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// virt-log for systemd guests: the guest's journal entries as objects
/// (time, priority, unit, identifier, pid, message and every field), oldest
/// first and streamed; without a journal, the lines of /var/log/syslog or
/// /var/log/messages, as virt-log does.
/// </summary>
[Cmdlet(VerbsCommon.Get, "GuestJournal")]
[OutputType(typeof(GuestJournalEntry))]
public sealed class GetGuestJournalCommand : GuestCmdlet
{
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>Only entries at or after this time (journal entries only).</summary>
    [Parameter]
    public DateTime? Since { get; set; }

    /// <summary>Only entries at or before this time (journal entries only).</summary>
    [Parameter]
    public DateTime? Until { get; set; }

    /// <summary>Only entries of these systemd units (wildcards; journal entries only).</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Unit { get; set; }

    /// <summary>Only entries of this priority or more important (0..7 or emerg, alert, crit, err, warning, notice, info, debug), as journalctl -p.</summary>
    [Parameter]
    public string? Priority { get; set; }

    /// <summary>Only the last N matching entries (or lines).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Newest { get; set; }

    /// <summary>The journal directory in the mounted guest.</summary>
    [Parameter]
    public string Directory { get; set; } = "/var/log/journal";

    private static readonly string[] TextLogs = { "/var/log/syslog", "/var/log/messages" };

    protected override void ProcessRecord()
    {
        int maxPriority = 7;
        if (Priority is not null)
        {
            int i = Array.IndexOf(GuestJournalEntry.LevelNames, Priority.ToLowerInvariant());
            if (i < 0 && !(int.TryParse(Priority, out i) && i is >= 0 and <= 7))
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"'{Priority}' is not a priority; use 0..7 or one of {string.Join(", ", GuestJournalEntry.LevelNames)}"),
                    "BadPriority", ErrorCategory.InvalidArgument, Priority));
                return;
            }
            maxPriority = i;
        }
        if (Since is { } s && Until is { } u && s > u)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Since ({s:o}) is after -Until ({u:o})"),
                "BadTimeRange", ErrorCategory.InvalidArgument, Since));
            return;
        }
        var disk = ResolveDisk(Disk);
        var session = disk.Session;
        var units = Unit?.Select(x => new WildcardPattern(x, WildcardOptions.IgnoreCase)).ToArray();
        DateTime? since = Since?.ToUniversalTime(), until = Until?.ToUniversalTime();

        string? source;
        try { source = Run(ct => FindSourceAsync(session, ct), session); }
        catch (Exception e) { WriteError(ToErrorRecord(e, "GuestLogFailed", disk, reading: true)); return; }
        if (source is null)
        {
            WriteError(new ErrorRecord(new System.IO.FileNotFoundException(
                $"The guest has no systemd journal ({Directory}) and no {string.Join(" or ", TextLogs)}. Mount the guest's root first (Open-GuestDisk -Inspect, or Mount-GuestFs), or give the journal's place with -Directory."),
                "NoGuestLog", ErrorCategory.ObjectNotFound, disk));
            return;
        }

        bool Keep(GuestJournalEntry e) =>
            e.Priority <= maxPriority
            && (since is null || (e.TimeCreated is { } t1 && t1 >= since))
            && (until is null || (e.TimeCreated is { } t2 && t2 <= until))
            && (units is null || (e.Unit is { } un && units.Any(p => p.IsMatch(un))));

        var last = Newest is int n ? new Queue<GuestJournalEntry>(Math.Min(n, 4096)) : null;
        void Emit(GuestJournalEntry e)
        {
            if (!Keep(e)) return;
            if (last is null) { WriteObject(e); return; }
            if (last.Count == Newest) last.Dequeue();
            last.Enqueue(e);
        }

        try
        {
            if (source == "journal")
            {
                WriteVerbose($"reading the systemd journal in {Directory}");
                RunStreaming(session, ct => session.ReadJournalAsync(Directory, ct), Emit);
            }
            else
            {
                if (since is not null || until is not null || units is not null)
                    WriteWarning($"-Since, -Until and -Unit apply to journal entries; {source} is plain text, so they select nothing");
                WriteVerbose($"no systemd journal in {Directory}: reading {source}, as virt-log does");
                RunStreaming(session, ct => ReadTextAsync(session, source, ct), Emit);
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(ToErrorRecord(e, "GuestLogFailed", disk, reading: true));
        }
        if (last is not null) foreach (var e in last) WriteObject(e);
    }

    /// <summary>"journal" when the journal directory has files and the appliance can read journals; else the first text log; else null.</summary>
    private async Task<string?> FindSourceAsync(Engine.Session.GuestSession s, System.Threading.CancellationToken ct)
    {
        if (await s.IsDirAsync(Directory, cancellationToken: ct).ConfigureAwait(false)
            && (await s.LsAsync(Directory, ct).ConfigureAwait(false)).Length > 0)
        {
            if (await s.InternalFeatureAvailableAsync("journal", ct).ConfigureAwait(false) == 0) return "journal";
            Post(() => WriteWarning("the appliance cannot read systemd journals (feature group journal); falling back to the text logs"));
        }
        foreach (var f in TextLogs)
            if (await s.IsFileAsync(f, followsymlinks: true, cancellationToken: ct).ConfigureAwait(false)) return f;
        return null;
    }

    private static async IAsyncEnumerable<GuestJournalEntry> ReadTextAsync(Engine.Session.GuestSession s, string file,
        [System.Runtime.CompilerServices.EnumeratorCancellation] System.Threading.CancellationToken ct)
    {
        foreach (var line in await s.ReadLinesAsync(file, ct).ConfigureAwait(false))
            yield return new GuestJournalEntry { Message = line, Source = file };
    }
}
