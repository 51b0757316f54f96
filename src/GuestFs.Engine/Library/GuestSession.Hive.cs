using System;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Session;

public sealed partial class GuestSession
{
    // guestfsd 1.48.6 keeps one hivex handle (daemon/hivex.c: a single global, and
    // hivex_open closes the previous one). Everything that opens a hive in this
    // session — inspection's application list, the registry provider, .reg import
    // and export — goes through this lock, so one user's open never silently
    // closes another's.
    private readonly SemaphoreSlim _hiveLock = new(1, 1);

    /// <summary>
    /// Opens the hive at <paramref name="guestPath"/> (a path in the mounted guest),
    /// runs <paramref name="body"/> with it as the daemon's only open hive, and closes it,
    /// holding the session's hive lock throughout. With <paramref name="write"/> the hive
    /// is opened for writing; committing is the body's business (an uncommitted change is
    /// lost when the hive is closed).
    /// </summary>
    public async Task<T> WithHiveAsync<T>(string guestPath, bool write, Func<CancellationToken, Task<T>> body,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(guestPath);
        ArgumentNullException.ThrowIfNull(body);
        await _hiveLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await HivexOpenAsync(guestPath, write: write, @unsafe: true, cancellationToken: cancellationToken).ConfigureAwait(false);
            try
            {
                return await body(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (State == GuestSessionState.Ready)
                {
                    try { await HivexCloseAsync(CancellationToken.None).ConfigureAwait(false); }
                    catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
                }
            }
        }
        finally
        {
            _hiveLock.Release();
        }
    }

    /// <summary>
    /// A string value of the open hive's node, or null when the node has no such value or
    /// it is not a string (what libguestfs's library does with hivex_value_string's failure).
    /// </summary>
    internal async Task<string?> HiveStringValueOrNullAsync(long node, string key, CancellationToken ct)
    {
        long value = await HivexNodeGetValueAsync(node, key, ct).ConfigureAwait(false);
        if (value == 0) return null;
        try
        {
            return await HivexValueStringAsync(value, ct).ConfigureAwait(false);
        }
        catch (GuestFsException e) when (e is not GuestFsProtocolException)
        {
            return null;
        }
    }
}
