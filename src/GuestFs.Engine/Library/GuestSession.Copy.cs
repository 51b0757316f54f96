using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Pipes;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Session;

/// <summary>Progress of a copy: the current file and running totals.</summary>
public sealed record CopyProgress(string CurrentItem, long CurrentBytes, long CurrentTotal, long TotalBytes, long TotalExpected, int FilesDone, int FilesExpected);

public sealed partial class GuestSession
{
    /// <summary>
    /// Uploads one host file to a guest path. The guest file is written under a
    /// temporary name next to the target and renamed when complete, so a
    /// cancelled or failed upload never leaves a partial file under the real name.
    /// </summary>
    public async Task UploadFileAsync(string hostPath, string guestPath, IProgress<CopyProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var fs = new FileStream(hostPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        long total = fs.Length;
        string tmp = GuestPath.Combine(GuestPath.GetDirectoryName(guestPath), PartialName.For(GuestPath.GetFileName(guestPath), random: false));
        var transfer = FileTransfer.Upload(fs, total, n => progress?.Report(new CopyProgress(hostPath, n, total, n, total, 0, 1)));
        try
        {
            await InvokeAsync(GuestFs.Engine.Launch.LaunchSupport.Request("upload", w => w.WriteString(tmp)), transfer, cancellationToken).ConfigureAwait(false);
        }
        catch (GuestFsException e) when (e is not GuestFsProtocolException && State == GuestSessionState.Ready)
        {
            await TryRemoveAsync(tmp).ConfigureAwait(false);
            string message = e.DaemonMessage.Replace(tmp, guestPath, StringComparison.Ordinal);
            if (e.ErrnoName == "ENOENT")
                message += $" (does the guest directory {GuestPath.GetDirectoryName(guestPath)} exist?)";
            throw new GuestFsException("upload", e.ErrnoName, message, e);
        }
        catch (Exception) when (State == GuestSessionState.Ready)
        {
            await TryRemoveAsync(tmp).ConfigureAwait(false);
            throw;
        }
        try
        {
            await MvAsync(tmp, guestPath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (State == GuestSessionState.Ready)
        {
            await TryRemoveAsync(tmp).ConfigureAwait(false);
            throw;
        }
        progress?.Report(new CopyProgress(hostPath, total, total, total, total, 1, 1));
    }

    private async Task TryRemoveAsync(string guestPath)
    {
        try { await RmFAsync(guestPath).ConfigureAwait(false); } catch (Exception) { }
    }

    /// <summary>
    /// Downloads one guest file to a host path through a temporary file that is
    /// renamed on success and deleted on failure or cancellation.
    /// </summary>
    public async Task DownloadFileAsync(string guestPath, string hostPath, bool overwrite = false, IProgress<CopyProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string full = Path.GetFullPath(hostPath);
        if (System.IO.File.Exists(full) && !overwrite)
            throw new IOException($"'{full}' already exists; use -Force to replace it");
        long total = 0;
        try { total = await FilesizeAsync(guestPath, cancellationToken).ConfigureAwait(false); }
        catch (GuestFsException e) when (e is not GuestFsProtocolException && e.ErrnoName != "ENOENT") { }
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, PartialName.For(Path.GetFileName(full)));
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var transfer = FileTransfer.Download(fs, n => progress?.Report(new CopyProgress(guestPath, n, total, n, total, 0, 1)));
                await InvokeAsync(GuestFs.Engine.Launch.LaunchSupport.Request("download", w => w.WriteString(guestPath)), transfer, cancellationToken).ConfigureAwait(false);
            }
            System.IO.File.Move(tmp, full, overwrite);
            progress?.Report(new CopyProgress(guestPath, total, total, total, total, 1, 1));
        }
        catch
        {
            try { System.IO.File.Delete(tmp); } catch { }
            throw;
        }
    }

    /// <summary>
    /// copy_in: copies a host file or directory tree into a guest directory.
    /// A tree is streamed as a tar archive (System.Formats.Tar) straight into
    /// the daemon's tar_in: no temporary copy of the tree is made.
    /// </summary>
    /// <param name="targetName">Name of the copy inside <paramref name="guestDirectory"/> (default: the source's own name).</param>
    public async Task CopyInAsync(string hostPath, string guestDirectory, IProgress<CopyProgress>? progress = null, CancellationToken cancellationToken = default,
        string? targetName = null)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(hostPath));
        if (!await IsDirAsync(guestDirectory, null, cancellationToken).ConfigureAwait(false))
            throw new GuestFsException("copy_in", "ENOTDIR", $"{guestDirectory}: the target is not a directory in the guest");
        if (System.IO.File.Exists(full))
        {
            await UploadFileAsync(full, GuestPath.Combine(guestDirectory, targetName ?? Path.GetFileName(full)), progress, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!Directory.Exists(full))
            throw new FileNotFoundException($"'{full}' does not exist on the host", full);

        // Count first so progress can show a percentage and time left.
        var entries = new List<FileSystemInfo>();
        long expected = 0; int files = 0;
        var root = new DirectoryInfo(full);
        entries.Add(root);
        foreach (var e in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false }))
        {
            entries.Add(e);
            if (e is FileInfo f && f.LinkTarget is null) { expected += f.Length; files++; }
        }

        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        using var producerCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // A producer failure (unreadable host file …) cancels the upload through the
        // protocol, so tar_in never sees a truncated archive as if it were complete.
        using var uploadCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string baseName = targetName ?? root.Name;
        if (baseName.Length == 0 || baseName.Contains('/') || baseName is "." or "..")
            throw new ArgumentException($"'{baseName}' is not a valid name for the copy", nameof(targetName));
        var producer = Task.Run(async () =>
        {
            try
            {
                await using var tar = new TarWriter(server, TarEntryFormat.Pax, leaveOpen: true);
                long done = 0; int filesDone = 0;
                foreach (var e in entries)
                {
                    producerCts.Token.ThrowIfCancellationRequested();
                    string rel = e == root ? baseName : baseName + "/" + Path.GetRelativePath(full, e.FullName).Replace(Path.DirectorySeparatorChar, '/');
                    if (e.LinkTarget is not null)
                    {
                        await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, rel) { LinkName = e.LinkTarget, ModificationTime = e.LastWriteTimeUtc }, producerCts.Token).ConfigureAwait(false);
                        continue;
                    }
                    if (e is DirectoryInfo)
                    {
                        var d = new PaxTarEntry(TarEntryType.Directory, rel + "/") { Mode = System.IO.File.GetUnixFileMode(e.FullName), ModificationTime = e.LastWriteTimeUtc };
                        await tar.WriteEntryAsync(d, producerCts.Token).ConfigureAwait(false);
                        continue;
                    }
                    if (e is FileInfo fi && (fi.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) == 0)
                    {
                        await using var data = new FileStream(fi.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, useAsync: true);
                        var counting = new ProgressStream(data, n => progress?.Report(new CopyProgress(rel, n, fi.Length, done + n, expected, filesDone, files)));
                        var fe = new PaxTarEntry(TarEntryType.RegularFile, rel)
                        {
                            Mode = System.IO.File.GetUnixFileMode(fi.FullName),
                            ModificationTime = fi.LastWriteTimeUtc,
                            DataStream = counting,
                        };
                        await tar.WriteEntryAsync(fe, producerCts.Token).ConfigureAwait(false);
                        done += fi.Length; filesDone++;
                        progress?.Report(new CopyProgress(rel, fi.Length, fi.Length, done, expected, filesDone, files));
                    }
                }
            }
            catch
            {
                uploadCts.Cancel();
                throw;
            }
            finally
            {
                server.Dispose(); // EOF for the upload side
            }
        });
        try
        {
            await InvokeAsync(GuestFs.Engine.Launch.LaunchSupport.Request("tar_in", w =>
            {
                w.WriteString(guestDirectory);
                w.WriteString(""); w.WriteBool(false); w.WriteBool(false); w.WriteBool(false);
            }), FileTransfer.Upload(client, 0), uploadCts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            producerCts.Cancel();
            client.Dispose();
            try { await producer.ConfigureAwait(false); }
            catch (Exception pe) when (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new IOException($"copy_in: reading '{full}' failed, the copy was cancelled: {pe.Message}", pe);
            }
            catch { }
            throw;
        }
        await producer.ConfigureAwait(false);
    }

    /// <summary>
    /// copy_out: copies a guest file or directory tree into a host directory.
    /// A tree arrives as the daemon's tar_out stream and is unpacked by
    /// <see cref="SafeTarExtractor"/>, which never writes outside the target.
    /// </summary>
    public Task<SafeTarExtractor?> CopyOutAsync(string guestPath, string hostDirectory, bool overwrite = false,
        IProgress<CopyProgress>? progress = null, Action<string, string>? skipped = null, CancellationToken cancellationToken = default)
    {
        string hostDir = Path.GetFullPath(hostDirectory);
        if (!Directory.Exists(hostDir))
            throw new DirectoryNotFoundException($"the host directory '{hostDir}' does not exist; create it first");
        string name = GuestPath.GetFileName(guestPath);
        if (name.Length == 0) name = "root";
        return CopyOutToAsync(guestPath, Path.Combine(hostDir, name), overwrite, progress, skipped, cancellationToken);
    }

    /// <summary>
    /// Copies a guest file or tree to exactly <paramref name="hostTarget"/> (a new
    /// file or directory name; an existing directory is merged into).
    /// </summary>
    public async Task<SafeTarExtractor?> CopyOutToAsync(string guestPath, string hostTarget, bool overwrite = false,
        IProgress<CopyProgress>? progress = null, Action<string, string>? skipped = null, CancellationToken cancellationToken = default)
    {
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(hostTarget));
        string parent = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(parent))
            throw new DirectoryNotFoundException($"the host directory '{parent}' does not exist; create it first");
        if (await IsFileAsync(guestPath, null, cancellationToken).ConfigureAwait(false))
        {
            await DownloadFileAsync(guestPath, target, overwrite, progress, cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (!await IsDirAsync(guestPath, null, cancellationToken).ConfigureAwait(false))
            throw new GuestFsException("copy_out", "ENOENT", $"{guestPath}: not a file or directory in the guest");

        // Sizes first (one find0 + batched lstat) so progress has a total.
        long expected = 0; int files = 0;
        foreach (var fi in await GetTreeAsync(guestPath, int.MaxValue, cancellationToken).ConfigureAwait(false))
            if (fi.ItemType == GuestItemType.File) { expected += fi.Length; files++; }

        int filesDone = 0;
        string current = guestPath;
        if (System.IO.File.Exists(target))
            throw new IOException($"'{target}' is a file, so the guest directory '{guestPath}' cannot be copied onto it");
        var extractor = new SafeTarExtractor(target, overwrite)
        {
            Skipped = skipped,
            BytesWritten = b => progress?.Report(new CopyProgress(current, b, expected, b, expected, filesDone, files)),
            FileStarted = n => current = GuestPath.Combine(guestPath, n.StartsWith("./", StringComparison.Ordinal) ? n.Substring(2) : n),
            FileDone = (n, _) => filesDone++,
        };

        using var server = new AnonymousPipeServerStream(PipeDirection.In);
        using var client = new AnonymousPipeClientStream(PipeDirection.Out, server.ClientSafePipeHandle);
        using var consumerCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var consumer = Task.Run(async () =>
        {
            try
            {
                await extractor.ExtractAsync(server, consumerCts.Token).ConfigureAwait(false);
                // GNU tar pads the archive to a whole record after the end marker: read it all.
                var sink = new byte[64 * 1024];
                while (await server.ReadAsync(sink, consumerCts.Token).ConfigureAwait(false) > 0) { }
            }
            finally
            {
                // On failure, closing the read end makes further writes fail, so the download
                // is cancelled through the protocol instead of blocking on a full pipe.
                server.Dispose();
            }
        });
        Exception? downloadError = null;
        try
        {
            await InvokeAsync(GuestFs.Engine.Launch.LaunchSupport.Request("tar_out", w =>
            {
                w.WriteString(guestPath);
                w.WriteString(""); w.WriteBool(false); w.WriteUInt32(0); w.WriteBool(false); w.WriteBool(false); w.WriteBool(false);
            }), FileTransfer.Download(client), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            downloadError = e;
            consumerCts.Cancel();
        }
        finally
        {
            client.Dispose(); // EOF for the extractor
        }
        Exception? extractError = null;
        try
        {
            await consumer.ConfigureAwait(false);
        }
        catch (Exception e) { extractError = e; }
        // The extractor's own failure explains a download that failed because its pipe closed.
        if (extractError is not null && extractError is not OperationCanceledException)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(extractError).Throw();
        if (downloadError is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(downloadError).Throw();
        if (extractError is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(extractError).Throw();
        progress?.Report(new CopyProgress(guestPath, expected, expected, expected, expected, files, files));
        return extractor;
    }
}

/// <summary>A read-only wrapper that reports how many bytes have been read.</summary>
internal sealed class ProgressStream : Stream
{
    private readonly Stream _inner;
    private readonly Action<long> _report;
    private long _count;

    public ProgressStream(Stream inner, Action<long> report) { _inner = inner; _report = report; }

    public override bool CanRead => true;
    public override bool CanSeek => _inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => _inner.Length;
    public override long Position { get => _inner.Position; set => _inner.Position = value; }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => _inner.Seek(offset, origin);
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = _inner.Read(buffer, offset, count);
        _count += n;
        _report(_count);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _count += n;
        _report(_count);
        return n;
    }
}
