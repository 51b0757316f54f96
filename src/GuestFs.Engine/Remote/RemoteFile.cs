using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Authentication;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Launch;

namespace GuestFs.Engine.Remote;

/// <summary>A read-only file on a server, read by byte ranges.</summary>
internal interface IRemoteFile : IAsyncDisposable
{
    /// <summary>The URL, for messages (never with a password).</summary>
    string Display { get; }

    /// <summary>The file's size in bytes.</summary>
    long Length { get; }

    /// <summary>Fills <paramref name="buffer"/> with the bytes at <paramref name="offset"/>.</summary>
    Task ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct);
}

/// <summary>Opens the right <see cref="IRemoteFile"/> for an http(s) or ftp(s) source.</summary>
internal static class RemoteFile
{
    /// <summary>
    /// Connects to the server, learns the file's size and checks that it serves ranges.
    /// Every failure is a <see cref="DriveSourceException"/> naming the URL and, where there is
    /// one, the fix (a certificate to trust, -Credential …).
    /// </summary>
    public static async Task<IRemoteFile> OpenAsync(CurlDriveSource source, CancellationToken ct)
    {
        IRemoteFile? file = null;
        try
        {
            // The size and the range check get 30 s together (the reads after them have the
            // per-request limits of ChunkedRemoteFile).
            using (var limit = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                limit.CancelAfter(TimeSpan.FromSeconds(30));
                file = source.Protocol is "ftp" or "ftps"
                    ? await FtpRemoteFile.OpenAsync(source, limit.Token).ConfigureAwait(false)
                    : await HttpRemoteFile.OpenAsync(source, limit.Token).ConfigureAwait(false);
            }
            // The first sector through the data path (a data connection, a range), now: what
            // fails there fails here, with its reason, not later as an I/O error in the guest.
            if (file.Length > 0) await file.ReadAsync(0, new byte[Math.Min(512, file.Length)], ct).ConfigureAwait(false);
            return file;
        }
        catch (Exception e)
        {
            if (file is not null) await file.DisposeAsync().ConfigureAwait(false);
            if (e is DriveSourceException || (e is OperationCanceledException && ct.IsCancellationRequested)) throw;
            string why = Describe(e);
            string? advice = source.Advice(why);
            throw new DriveSourceException(source, $"could not open {source.Display}: {why}" + (advice is null ? "" : $" ({advice})"), e);
        }
    }

    /// <summary>An exception and its inner ones in one line ("The SSL connection … : The remote certificate …").</summary>
    internal static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException)
        {
            string m = x is OperationCanceledException or TimeoutException ? "no answer in time" : x.Message.Trim();
            if (x is AuthenticationException && !m.Contains("certificate", StringComparison.OrdinalIgnoreCase))
                m += " (TLS certificate or handshake)";
            m = m.Replace(", see inner exception.", "", StringComparison.Ordinal).TrimEnd('.');
            if (m.Length > 0 && !parts.Exists(p => p.Contains(m, StringComparison.Ordinal))) parts.Add(m);
        }
        return string.Join(": ", parts).Replace("\r", "").Replace('\n', ' ');
    }
}

/// <summary>
/// Reads a remote file in aligned chunks kept in a small LRU cache: the appliance's many small
/// reads of the same metadata cost one request, concurrent readers of one chunk share its
/// fetch, and a failed or silent request is retried with a time limit instead of waiting forever.
/// </summary>
internal abstract class ChunkedRemoteFile : IRemoteFile
{
    private readonly Dictionary<long, Task<byte[]>> _chunks = new();
    private readonly LinkedList<long> _recent = new();
    private readonly CancellationTokenSource _closed = new();

    protected ChunkedRemoteFile(string display, int chunkSize, int cachedChunks)
    {
        Display = display;
        ChunkSize = chunkSize;
        CachedChunks = cachedChunks;
    }

    public string Display { get; }
    public long Length { get; protected set; }
    public int ChunkSize { get; }
    public int CachedChunks { get; }

    /// <summary>How long one request may take before it is abandoned and tried again.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a request is made before the read fails (EIO in the guest).</summary>
    public int Attempts { get; init; } = 3;

    /// <summary>Reads exactly <paramref name="into"/>.Length bytes at <paramref name="offset"/> from the server.</summary>
    protected abstract Task FetchAsync(long offset, Memory<byte> into, CancellationToken ct);

    public async Task ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        if (offset < 0 || offset + buffer.Length > Length) throw new ArgumentOutOfRangeException(nameof(offset));
        long first = offset / ChunkSize, last = (offset + buffer.Length - 1) / ChunkSize;
        var fetches = new List<Task<byte[]>>();
        for (long c = first; c <= last; c++) fetches.Add(Chunk(c));
        await Task.WhenAll(fetches).WaitAsync(ct).ConfigureAwait(false);
        int done = 0;
        for (long c = first; c <= last; c++)
        {
            byte[] chunk = fetches[(int)(c - first)].Result;
            int from = (int)(offset + done - c * ChunkSize);
            int n = Math.Min(chunk.Length - from, buffer.Length - done);
            chunk.AsSpan(from, n).CopyTo(buffer.Span.Slice(done));
            done += n;
        }
    }

    private Task<byte[]> Chunk(long index)
    {
        lock (_chunks)
        {
            if (_chunks.TryGetValue(index, out var t) && !t.IsFaulted && !t.IsCanceled)
            {
                _recent.Remove(index);
                _recent.AddFirst(index);
                return t;
            }
            if (t is not null) _recent.Remove(index);
            t = Task.Run(() => FetchChunkAsync(index));
            _chunks[index] = t;
            _recent.AddFirst(index);
            while (_recent.Count > CachedChunks)
            {
                long old = _recent.Last!.Value;
                _recent.RemoveLast();
                _chunks.Remove(old);
            }
            return t;
        }
    }

    private async Task<byte[]> FetchChunkAsync(long index)
    {
        long start = index * ChunkSize;
        var data = new byte[(int)Math.Min(ChunkSize, Length - start)];
        for (int attempt = 1; ; attempt++)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token);
            limit.CancelAfter(RequestTimeout);
            try
            {
                await FetchAsync(start, data, limit.Token).ConfigureAwait(false);
                return data;
            }
            catch (Exception) when (attempt < Attempts && !_closed.IsCancellationRequested)
            {
                await Task.Delay(200 * attempt, _closed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!_closed.IsCancellationRequested)
            {
                throw new TimeoutException($"{Display} did not send {data.Length} bytes at offset {start} within {RequestTimeout.TotalSeconds:0} s ({Attempts} attempts)", e);
            }
        }
    }

    public virtual ValueTask DisposeAsync()
    {
        _closed.Cancel();
        return ValueTask.CompletedTask;
    }
}
