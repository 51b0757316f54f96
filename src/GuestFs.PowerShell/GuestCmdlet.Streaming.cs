using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

public abstract partial class GuestCmdlet
{
    /// <summary>
    /// Enumerates <paramref name="source"/> on the thread pool and hands each
    /// item to <paramref name="write"/> on the pipeline thread as it arrives,
    /// so large results stream instead of being collected. When the pipeline
    /// stops taking items (Select-Object -First, an error under -ErrorAction
    /// Stop, Ctrl+C) the enumeration is cancelled.
    /// </summary>
    protected void RunStreaming<T>(GuestSession session, Func<CancellationToken, IAsyncEnumerable<T>> source, Action<T> write)
    {
        using var stopped = new CancellationTokenSource();
        try
        {
            Run(async ct =>
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, stopped.Token);
                await foreach (var x in source(linked.Token).WithCancellation(linked.Token).ConfigureAwait(false))
                {
                    var item = x;
                    Post(() => write(item));
                }
            }, session);
        }
        catch (Exception)
        {
            stopped.Cancel();
            throw;
        }
    }
}
