using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Api;

/// <summary>
/// The calls that libguestfs 1.48.6 answers in the library rather than in
/// guestfsd (cat, ls, find, write, copy_in, filesystem_walk, version …),
/// rebuilt from daemon calls and qemu-img, callable by name like the daemon's
/// procedures. They are declared in <c>library.table</c> (one row each; the
/// generated <c>LibraryCatalog.g.cs</c> binds every row to its implementation
/// in <see cref="LibraryCalls"/>). Each has a <see cref="ProcedureInfo"/> with
/// <see cref="ProcedureInfo.IsLibrary"/> set and number 0. An argument of type
/// <c>String(HostPath)</c> is a path on the host (not opened by the caller).
/// Handlers get values already checked and converted to the declared types.
/// </summary>
/// <remarks>
/// Left out on purpose (see docs/library-calls.md): the handle's configuration
/// and launch calls (the add_drive family, set_memsize, set_smp, launch … are
/// Open-GuestDisk's parameters and GuestSession's options), mount_local (the
/// GuestFs provider covers it), the libvirt calls (no libvirt here), tracing
/// switches (the -Verbose and -Debug streams), user_cancel and
/// kill_subprocess (Ctrl+C), shutdown (Close-GuestDisk).
/// </remarks>
public static partial class LibraryCatalog
{
    internal delegate Task<object?> Handler(GuestSession s, IReadOnlyDictionary<string, object?> a, CancellationToken ct);

    private sealed record Entry(ProcedureInfo Info, Handler Run);

    private static readonly Lazy<Dictionary<string, Entry>> s_entries = new(Build);

    /// <summary>Every library-side call, by name.</summary>
    public static IReadOnlyList<ProcedureInfo> All => s_entries.Value.Values.Select(e => e.Info).OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();

    public static ProcedureInfo? Find(string name) => s_entries.Value.TryGetValue(name, out var e) ? e.Info : null;

    internal static Handler? HandlerFor(string name) => s_entries.Value.TryGetValue(name, out var e) ? e.Run : null;
}
