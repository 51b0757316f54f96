using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Library
{
    /// <summary>One systemd journal entry of a guest (journal_get plus its realtime timestamp).</summary>
    public sealed class GuestJournalEntry
    {
        /// <summary>__REALTIME_TIMESTAMP, in UTC; null when the journal has none.</summary>
        public DateTime? TimeCreated { get; init; }
        /// <summary>PRIORITY (0 emerg … 7 debug); virt-log's default for a missing one is 6 (info).</summary>
        public int Priority { get; init; } = 6;
        /// <summary>The priority's syslog name (emerg, alert, crit, err, warning, notice, info, debug).</summary>
        public string Level => Priority is >= 0 and <= 7 ? LevelNames[Priority] : Priority.ToString(CultureInfo.InvariantCulture);
        /// <summary>_SYSTEMD_UNIT (or _SYSTEMD_USER_UNIT).</summary>
        public string? Unit { get; init; }
        /// <summary>SYSLOG_IDENTIFIER, else _COMM (what virt-log prints before the pid).</summary>
        public string? Identifier { get; init; }
        public int? ProcessId { get; init; }
        public string? HostName { get; init; }
        public string Message { get; init; } = "";
        /// <summary>Every field as text (binary values decoded as UTF-8).</summary>
        public OrderedDictionary Fields { get; init; } = new();
        /// <summary>"journal", or the log file the text came from (/var/log/syslog …).</summary>
        public string Source { get; init; } = "journal";

        public static readonly string[] LevelNames = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

        /// <summary>Builds an entry from journal_get's fields and journal_get_realtime_usec (negative: none).</summary>
        public static GuestJournalEntry FromFields(IReadOnlyList<GuestXattr> fields, long realtimeUsec)
        {
            var d = new OrderedDictionary(StringComparer.Ordinal);
            foreach (var f in fields) d[f.Attrname] = Encoding.UTF8.GetString(f.Attrval);
            string? S(string n) => d[n] as string;
            int priority = 6;
            if (S("PRIORITY") is { Length: > 0 } p && p[0] is >= '0' and <= '7') priority = p[0] - '0';
            return new GuestJournalEntry
            {
                TimeCreated = realtimeUsec >= 0 ? DateTime.UnixEpoch.AddTicks(realtimeUsec * 10) : null,
                Priority = priority,
                Unit = S("_SYSTEMD_UNIT") ?? S("_SYSTEMD_USER_UNIT"),
                Identifier = S("SYSLOG_IDENTIFIER") ?? S("_COMM"),
                ProcessId = int.TryParse(S("_PID"), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null,
                HostName = S("_HOSTNAME"),
                Message = S("MESSAGE") ?? "",
                Fields = d,
            };
        }

        public override string ToString() => Message;
    }
}

namespace GuestFs.Engine.Session
{
    using GuestFs.Engine.Library;

    public sealed partial class GuestSession
    {
        /// <summary>
        /// The entries of the systemd journal in <paramref name="directory"/> of
        /// the mounted guest (journal_open, then journal_next / journal_get /
        /// journal_get_realtime_usec until the end), oldest first, streamed; the
        /// journal is closed at the end, on error and on cancellation.
        /// </summary>
        public async IAsyncEnumerable<GuestJournalEntry> ReadJournalAsync(string directory = "/var/log/journal",
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await JournalOpenAsync(directory, cancellationToken).ConfigureAwait(false);
            try
            {
                while (await JournalNextAsync(cancellationToken).ConfigureAwait(false))
                {
                    var fields = await JournalGetEntryAsync(cancellationToken).ConfigureAwait(false);
                    long ts;
                    try { ts = await JournalGetRealtimeUsecAsync(cancellationToken).ConfigureAwait(false); }
                    catch (GuestFsException e) when (e is not GuestFsProtocolException) { ts = -1; }
                    yield return GuestJournalEntry.FromFields(fields, ts);
                }
            }
            finally
            {
                if (State == GuestSessionState.Ready)
                {
                    try { await JournalCloseAsync(CancellationToken.None).ConfigureAwait(false); }
                    catch (Exception) { }
                }
            }
        }
    }
}
