using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Provider;

/// <summary>
/// What the provider has recently learned about one disk's tree: directory
/// listings (one ls0 and batched lstats each) and the items in them.
///
/// PowerShell asks a provider about one path at a time — ItemExists, then
/// IsItemContainer, then GetItem, for every match of a wildcard — and makes a
/// new provider object for each question, so the answers are kept here, on
/// the disk, where the next question finds them.
///
/// The cache is only trusted while nothing else has talked to the daemon:
/// every lookup compares the session's call counter with the value it had
/// when the cache was last filled, so any other call (a GuestFs cmdlet,
/// Invoke-GuestFsApi, a provider write) empties it. Nothing else changes a
/// guest tree, so within that rule the answers are current. A short age limit
/// backs this up against calls made from another thread while a fill was
/// running.
/// </summary>
internal sealed class GuestItemCache
{
    private static readonly long MaxAgeMs = 5000;
    private const int MaxItems = 50_000;

    private readonly object _lock = new();
    private readonly Dictionary<string, GuestFileInfo?> _items = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GuestFileInfo[]> _listings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _followsToDirectory = new(StringComparer.Ordinal);
    private long _stamp = -1;
    private long _bornMs;

    /// <summary>Drops everything (after a change made through the provider).</summary>
    public void Invalidate()
    {
        lock (_lock) ClearLocked();
    }

    private void ClearLocked()
    {
        _items.Clear();
        _listings.Clear();
        _followsToDirectory.Clear();
        _stamp = -1;
    }

    /// <summary>Empties the cache unless it is still current for <paramref name="calls"/>.</summary>
    private void CheckLocked(long calls)
    {
        if (_stamp != calls || Environment.TickCount64 - _bornMs > MaxAgeMs) ClearLocked();
    }

    /// <summary>Records what a lookup that started at <paramref name="before"/> learned.</summary>
    private void Store(long before, long after, Action fill)
    {
        lock (_lock)
        {
            if (_stamp != before || _items.Count > MaxItems)
            {
                ClearLocked();
                _bornMs = Environment.TickCount64;
            }
            fill();
            _stamp = after;
        }
    }

    /// <summary>The lstat data of one path (null when it does not exist).</summary>
    public async Task<GuestFileInfo?> GetItemAsync(GuestSession session, string path, CancellationToken ct)
    {
        long before = session.CallCount;
        lock (_lock)
        {
            CheckLocked(before);
            if (_items.TryGetValue(path, out var known)) return known;
            // A name missing from a listing of its directory does not exist.
            if (path != "/" && _listings.ContainsKey(GuestPath.GetDirectoryName(path))) return null;
        }
        var item = await session.GetItemAsync(path, ct).ConfigureAwait(false);
        Store(before, session.CallCount, () => _items[path] = item);
        return item;
    }

    /// <summary>The entries of a directory (the directory a link points to for a link).</summary>
    public async Task<GuestFileInfo[]> GetEntriesAsync(GuestSession session, string directory, CancellationToken ct)
    {
        long before = session.CallCount;
        lock (_lock)
        {
            CheckLocked(before);
            if (_listings.TryGetValue(directory, out var known)) return known;
        }
        var entries = await session.GetDirectoryEntriesAsync(directory, ct).ConfigureAwait(false);
        Store(before, session.CallCount, () =>
        {
            _listings[directory] = entries;
            foreach (var e in entries) _items[e.FullName] = e;
        });
        return entries;
    }

    /// <summary>
    /// Every entry below a directory (one find0 plus batched lstats); the items
    /// are remembered, so PowerShell's questions about them cost nothing.
    /// </summary>
    public async Task<GuestFileInfo[]> GetTreeAsync(GuestSession session, string directory, int maxDepth, CancellationToken ct)
    {
        long before = session.CallCount;
        lock (_lock) CheckLocked(before);
        var entries = await session.GetTreeAsync(directory, maxDepth, ct).ConfigureAwait(false);
        Store(before, session.CallCount, () =>
        {
            foreach (var e in entries) _items[e.FullName] = e;
        });
        return entries;
    }

    /// <summary>
    /// Whether a path is a directory, following a symbolic link (one is_dir call
    /// per link, remembered); for anything else the lstat data answers.
    /// </summary>
    public async Task<bool> IsDirectoryAsync(GuestSession session, string path, CancellationToken ct)
    {
        var item = await GetItemAsync(session, path, ct).ConfigureAwait(false);
        if (item is null) return false;
        if (item.ItemType != GuestItemType.SymbolicLink) return item.IsDirectory;
        long before = session.CallCount;
        lock (_lock)
        {
            CheckLocked(before);
            if (_followsToDirectory.TryGetValue(path, out var known)) return known;
        }
        bool isDir;
        try { isDir = await session.IsDirAsync(path, true, ct).ConfigureAwait(false); }
        catch (GuestFsException e) when (e is not GuestFsProtocolException) { isDir = false; }
        Store(before, session.CallCount, () => _followsToDirectory[path] = isDir);
        return isDir;
    }
}
