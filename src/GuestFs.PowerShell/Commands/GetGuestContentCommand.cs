using System;
using System.IO;
using System.Management.Automation;
using System.Text;
using System.Threading;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.PowerShell.Commands;

/// <summary>Reads guest files: lines (streamed), the whole text (-Raw) or bytes (-AsByteStream).</summary>
[Cmdlet(VerbsCommon.Get, "GuestContent", DefaultParameterSetName = "Path")]
[OutputType(typeof(string), typeof(byte), typeof(byte[]))]
public sealed class GetGuestContentCommand : GuestPathCmdlet
{
    /// <summary>Return the whole file as one string (or one byte array with -AsByteStream).</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    /// <summary>Stop after this many lines (or bytes with -AsByteStream); the rest is not transferred.</summary>
    [Parameter]
    [Alias("First", "Head")]
    [ValidateRange(0, long.MaxValue)]
    public long TotalCount { get; set; } = -1;

    /// <summary>Only the last N lines (read in the appliance by tail, so the rest is not transferred).</summary>
    [Parameter]
    [Alias("Last")]
    [ValidateRange(0, int.MaxValue)]
    public int Tail { get; set; } = -1;

    [Parameter]
    [ArgumentCompleter(typeof(EncodingCompleter))]
    public string? Encoding { get; set; }

    protected override void ProcessRecord()
    {
        Encoding enc;
        try { enc = ContentEncoding.Resolve(Encoding); }
        catch (ArgumentException e) { ThrowTerminatingError(new ErrorRecord(e, "UnknownEncoding", ErrorCategory.InvalidArgument, Encoding)); return; }
        if (Tail >= 0 && (TotalCount >= 0 || AsByteStream.IsPresent))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(AsByteStream.IsPresent
                    ? "-Tail counts lines, so it does not go with -AsByteStream. Read the bytes with -AsByteStream alone, or the last lines with -Tail alone."
                    : "-Tail and -TotalCount cannot be used together: use one of them."),
                "TailWithTotalCount", ErrorCategory.InvalidArgument, Tail));
        foreach (var (_, disk, targets) in ResolveGivenPaths(reading: true, errorWhenNoMatch: true))
        {
            foreach (var t in targets) ReadOne(disk, t, enc);
        }
    }

    private void ReadOne(GuestDisk disk, string path, Encoding enc)
    {
        var session = disk.Session;
        try
        {
            if (TotalCount == 0 || Tail == 0) return;
            if (Tail > 0)
            {
                // The daemon's tail_n reads the file in the appliance and sends only the last lines.
                var last = Run(ct => session.TailNAsync(Tail, path, ct), session);
                if (Raw.IsPresent) WriteObject(last.Length == 0 ? "" : string.Join("\n", last) + "\n");
                else foreach (var l in last) WriteObject(l);
                return;
            }
            if (Raw.IsPresent && !AsByteStream.IsPresent && TotalCount > 0)
            {
                // -Raw with -TotalCount: the first N lines, as one string with their line ends.
                var sb = new StringBuilder();
                long n = 0;
                using var enough = CancellationTokenSource.CreateLinkedTokenSource(StopToken);
                var first = new LineSplittingStream(enc, l => { if (n++ < TotalCount) sb.Append(l).Append('\n'); if (n >= TotalCount) enough.Cancel(); }, Encoding is null);
                try { Run(async _ => await session.DownloadAsync(path, first, enough.Token).ConfigureAwait(false), session); first.Finish(); }
                catch (OperationCanceledException) when (!StopToken.IsCancellationRequested && enough.IsCancellationRequested) { }
                WriteObject(sb.ToString());
                return;
            }
            if (Raw.IsPresent || AsByteStream.IsPresent)
            {
                byte[] bytes;
                if (TotalCount > 0)
                {
                    // Only the first TotalCount bytes are wanted: pread them (in protocol-sized pieces).
                    bytes = Run(async ct =>
                    {
                        using var ms = new MemoryStream();
                        long want = TotalCount, off = 0;
                        while (want > 0)
                        {
                            int n = (int)Math.Min(want, 2 * 1024 * 1024);
                            var part = await session.PreadAsync(path, n, off, ct).ConfigureAwait(false);
                            if (part.Length == 0) break;
                            ms.Write(part);
                            off += part.Length; want -= part.Length;
                        }
                        return ms.ToArray();
                    }, session);
                }
                else
                {
                    bytes = Run(ct => session.ReadFileAsync(path, ct), session);
                }
                if (AsByteStream.IsPresent)
                {
                    if (Raw.IsPresent) WriteObject(bytes);
                    else foreach (var b in bytes) WriteObject(b);
                }
                else
                {
                    var (found, skip) = LineSplittingStream.Sniff(bytes, enc, Encoding is null);
                    WriteObject(found.GetString(bytes, skip, bytes.Length - skip));
                }
                return;
            }
            // Lines are emitted while the download runs; -TotalCount cancels the rest of the transfer.
            long emitted = 0;
            using var stopEarly = CancellationTokenSource.CreateLinkedTokenSource(StopToken);
            var splitter = new LineSplittingStream(enc, line =>
            {
                if (TotalCount >= 0 && emitted >= TotalCount) { stopEarly.Cancel(); return; }
                emitted++;
                Post(() => WriteObject(line));
                if (TotalCount >= 0 && emitted >= TotalCount) stopEarly.Cancel();
            }, detectBom: Encoding is null);
            try
            {
                Run(async _ => await session.DownloadAsync(path, splitter, stopEarly.Token).ConfigureAwait(false), session);
                if (TotalCount < 0 || emitted < TotalCount) splitter.Finish();
                // Lines posted by Finish are written by the next pump; flush them now.
                Run(_ => System.Threading.Tasks.Task.CompletedTask);
            }
            catch (OperationCanceledException) when (!StopToken.IsCancellationRequested && stopEarly.IsCancellationRequested)
            {
                Run(_ => System.Threading.Tasks.Task.CompletedTask);
            }
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e)
        {
            // A directory read as content fails inside a download, whose error carries no errno:
            // say what it is (InvalidType, as the FileSystem provider and about_GuestFs say).
            if (e is not GuestFsProtocolException && IsDirectory(disk, path))
            {
                WriteError(new ErrorRecord(new System.IO.IOException($"'{path}' is a directory, and Get-GuestContent reads files. Get-GuestChildItem lists a directory.", e),
                    "ItemIsDirectory", ErrorCategory.InvalidType, path));
                return;
            }
            WriteError(ToErrorRecord(e, e is GuestFsException { ErrnoName: "ENOENT" } ? "PathNotFound" : "ReadContentFailed", path, reading: true));
        }
    }

    private bool IsDirectory(GuestDisk disk, string path)
    {
        try { return Run(ct => disk.Session.IsDirAsync(path, cancellationToken: ct), disk.Session); }
        catch (Exception) { return false; }
    }
}
