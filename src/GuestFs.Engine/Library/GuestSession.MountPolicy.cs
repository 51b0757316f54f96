using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Session;

/// <summary>Why <see cref="GuestSession.MountGuestAsync"/> mounted nothing: an id a cmdlet uses as its error id, and the message.</summary>
public sealed class GuestMountPolicyException : InvalidOperationException
{
    public GuestMountPolicyException(string reason, string message) : base(message) => Reason = reason;

    /// <summary>NoOperatingSystem, RootNotFound or AmbiguousOperatingSystem.</summary>
    public string Reason { get; }
}

/// <summary>What <see cref="GuestSession.MountGuestAsync"/> mounted.</summary>
/// <param name="Root">The operating system's root filesystem, or null when a single filesystem or a named device was mounted at /.</param>
/// <param name="Mounts">Every mount point it tried, in order (a failed one other than / carries its error).</param>
public sealed record GuestMountResult(string? Root, IReadOnlyList<GuestInspectedMount> Mounts);

public sealed partial class GuestSession
{
    /// <summary>
    /// The one policy for "find the guest and mount it", shared by Open-GuestDisk -Inspect,
    /// Copy-GuestItem -ImagePath and New-PSDrive -ImagePath:
    /// <list type="number">
    /// <item>a device named by the caller is mounted at /;</item>
    /// <item>otherwise the disks are inspected (inspect_os, cached): the root the caller asks for, or
    /// the only operating system found, is mounted at its own mount points, shortest first;
    /// several without a choice is <c>AmbiguousOperatingSystem</c>, an unknown root <c>RootNotFound</c>;</item>
    /// <item>with no operating system, and only when <paramref name="singleFileSystemWithoutOs"/>, the
    /// only filesystem (neither swap nor unknown) is mounted at /; otherwise <c>NoOperatingSystem</c>
    /// naming the filesystems there are.</item>
    /// </list>
    /// Read-only or read-write as <paramref name="readOnly"/> says. With <paramref name="windowsLetters"/>
    /// a Windows system is mounted by drive letter instead (<see cref="MountWindowsLettersAsync"/>).
    /// </summary>
    public async Task<GuestMountResult> MountGuestAsync(string? root, string? device, bool readOnly, bool singleFileSystemWithoutOs,
        CancellationToken cancellationToken = default, bool windowsLetters = false)
    {
        if (device is not null)
        {
            if (readOnly) await MountRoAsync(device, "/", cancellationToken).ConfigureAwait(false);
            else await MountAsync(device, "/", cancellationToken).ConfigureAwait(false);
            return new GuestMountResult(null, new[] { new GuestInspectedMount("/", device, readOnly, null) });
        }
        var roots = (await InspectOperatingSystemsAsync(cancellationToken).ConfigureAwait(false)).OrderBy(r => r, StringComparer.Ordinal).ToArray();
        string? chosen = await ChooseRootAsync(roots, root, cancellationToken).ConfigureAwait(false);
        if (chosen is not null)
        {
            if (windowsLetters && await InspectGetTypeAsync(chosen, cancellationToken).ConfigureAwait(false) == "windows"
                && await MountWindowsLettersAsync(chosen, readOnly, cancellationToken).ConfigureAwait(false) is { } lettered)
                return new GuestMountResult(chosen, lettered);
            return new GuestMountResult(chosen, await MountOperatingSystemAsync(chosen, readOnly, cancellationToken).ConfigureAwait(false));
        }

        var fs = (await GetFileSystemsAsync(cancellationToken).ConfigureAwait(false)).Where(f => f.Type is not ("unknown" or "swap")).ToArray();
        if (singleFileSystemWithoutOs && fs.Length == 1)
        {
            if (readOnly) await MountRoAsync(fs[0].Device, "/", cancellationToken).ConfigureAwait(false);
            else await MountAsync(fs[0].Device, "/", cancellationToken).ConfigureAwait(false);
            return new GuestMountResult(null, new[] { new GuestInspectedMount("/", fs[0].Device, readOnly, null) });
        }
        string listing = fs.Length == 0 ? "and no filesystem" : $"and {fs.Length} filesystem(s): {string.Join(", ", fs.Select(f => $"{f.Device} ({f.Type})"))}";
        throw new GuestMountPolicyException("NoOperatingSystem",
            $"No operating system was found on the disks, {listing}. Mount a filesystem by name instead: Open-GuestDisk without -Inspect and then Mount-GuestFs (Get-GuestFileSystem lists them), or New-PSDrive -ImagePath with -Device; if the disks are encrypted, add -Passphrase.");
    }

    /// <summary>
    /// Every drive letter of a Windows system on a directory of its own — /C, /D … — instead of
    /// the system drive on / with nothing else mounted: the daemon mounts only inside the guest
    /// tree, so a second letter would need a directory on C: (a change to the guest), while
    /// mkmountpoint makes directories outside the guest's filesystems as long as / is not
    /// mounted. A device with two letters is mounted once, on the first. A letter whose
    /// filesystem cannot be mounted is skipped with a warning; the system drive failing throws.
    /// Null, with nothing mounted, when the system drive has no letter (the caller mounts the
    /// usual way) or something is mounted already.
    /// </summary>
    public async Task<GuestInspectedMount[]?> MountWindowsLettersAsync(string root, bool readOnly, CancellationToken cancellationToken = default)
    {
        var letters = (await InspectGetDriveMappingsAsync(root, cancellationToken).ConfigureAwait(false))
            .Select(kv => (Letter: kv.Key.ToUpperInvariant(), Device: kv.Value))
            .Where(l => l.Letter.Length == 1 && char.IsAsciiLetter(l.Letter[0]))
            .OrderBy(l => l.Letter, StringComparer.Ordinal)
            .GroupBy(l => l.Device, StringComparer.Ordinal)
            .Select(g => (MountPoint: "/" + g.First().Letter, Device: g.Key))
            .ToArray();
        if (!letters.Any(l => l.Device == root)) return null;
        if ((await MountpointsAsync(cancellationToken).ConfigureAwait(false)).Count > 0) return null;
        foreach (var (mp, _) in letters)
        {
            try { await MkmountpointAsync(mp, cancellationToken).ConfigureAwait(false); }
            // Made by an earlier mount in this appliance: it is the same empty directory.
            catch (GuestFsException e) when (e is not GuestFsProtocolException && e.ErrnoName == "EEXIST") { }
        }
        var done = new List<GuestInspectedMount>();
        // The system drive first: without it there is no point in the others.
        foreach (var (mp, device) in letters.OrderBy(l => l.Device == root ? 0 : 1))
            done.Add(await MountOneAsync(device, mp, readOnly, required: device == root, "system drive", "Windows system", cancellationToken).ConfigureAwait(false));
        return done.ToArray();
    }

    /// <summary>The root to mount among those inspection found (null when it found none).</summary>
    private async Task<string?> ChooseRootAsync(string[] roots, string? requested, CancellationToken ct)
    {
        async Task<string> Listing()
        {
            var parts = new List<string>();
            foreach (var r in roots) parts.Add($"{r} ({await InspectGetProductNameAsync(r, ct).ConfigureAwait(false)})");
            return string.Join(", ", parts);
        }
        if (requested is not null)
        {
            if (roots.Contains(requested, StringComparer.Ordinal)) return requested;
            throw new GuestMountPolicyException("RootNotFound", roots.Length == 0
                ? $"-Root {requested}: inspection found no operating system on these disks."
                : $"-Root {requested} is not the root of an operating system on these disks; inspection found: {await Listing().ConfigureAwait(false)}.");
        }
        if (roots.Length > 1)
            throw new GuestMountPolicyException("AmbiguousOperatingSystem",
                $"Inspection found {roots.Length} operating systems: {await Listing().ConfigureAwait(false)}. Say which one to mount with -Root, for example -Root {roots[0]}.");
        return roots.Length == 1 ? roots[0] : null;
    }
}
