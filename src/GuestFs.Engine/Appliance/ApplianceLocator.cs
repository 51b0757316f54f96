using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Launch;

namespace GuestFs.Engine.Appliance;

/// <summary>How an appliance was obtained.</summary>
public enum ApplianceKind { Supermin, Fixed }

/// <summary>The three files qemu boots, and where they came from.</summary>
public sealed record ApplianceFiles(string Kernel, string Initrd, string Root, ApplianceKind Kind, string Source, bool Rebuilt)
{
    /// <summary>The ext2 UUID of <see cref="Root"/>, needed on the kernel command line.</summary>
    public string RootUuid { get; init; } = "";
}

/// <summary>A missing host package or program, with the package that provides it.</summary>
public sealed class MissingDependencyException : Exception
{
    public MissingDependencyException(string what, string package, string? detail = null)
        : base($"{what} was not found. Install the Debian package '{package}' (as root: apt-get install {package})" +
               (detail is null ? "." : $". {detail}"))
    {
        Package = package;
    }

    public string Package { get; }
}

/// <summary>
/// Finds the appliance on the search path and, for a supermin description,
/// builds it into the per-user cache with <c>supermin --build --if-newer</c>.
/// </summary>
public static class ApplianceLocator
{
    /// <summary>Where distributions install libguestfs's appliance description.</summary>
    public static readonly string[] DefaultSearchPath =
    {
        "/usr/lib/x86_64-linux-gnu/guestfs",
        "/usr/lib64/guestfs",
        "/usr/lib/guestfs",
        "/usr/local/lib/guestfs",
    };

    public static IReadOnlyList<string> SearchPath(string? appliancePath)
    {
        if (string.IsNullOrEmpty(appliancePath)) return DefaultSearchPath;
        var list = new List<string>();
        foreach (var e in appliancePath.Split(':'))
            list.Add(e.Length == 0 ? "." : e);
        return list;
    }

    /// <summary>
    /// The per-user cache directory (<c>&lt;parent&gt;/.guestfs-&lt;euid&gt;</c>), created
    /// if needed and checked: owned by us, a real directory, not writable by others.
    /// </summary>
    public static string CacheDirectory(string? parent)
    {
        if (string.IsNullOrEmpty(parent)) parent = "/var/tmp";
        uint euid = NativeMethods.GetEuid();
        string dir = Path.Combine(Path.GetFullPath(parent), $".guestfs-{euid}");
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                      UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                                      UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
        var info = new DirectoryInfo(dir);
        if (info.LinkTarget is not null)
            throw new UnauthorizedAccessException($"security: the appliance cache {dir} is a symbolic link; remove it so it can be recreated");
        var mode = File.GetUnixFileMode(dir);
        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            throw new UnauthorizedAccessException($"security: the appliance cache {dir} is writable by other users; run 'chmod go-w {dir}' or remove it");
        return dir;
    }

    /// <summary>Locates (and if necessary builds) the appliance.</summary>
    public static async Task<ApplianceFiles> LocateAsync(string? appliancePath, string? cacheParent, bool verbose,
        Action<string> log, CancellationToken ct)
    {
        var searched = new List<string>();
        foreach (var dir in SearchPath(appliancePath))
        {
            searched.Add(dir);
            string supermin = Path.Combine(dir, "supermin.d");
            if (File.Exists(Path.Combine(supermin, "base.tar.gz")) && File.Exists(Path.Combine(supermin, "packages")))
                return await BuildSuperminAsync(supermin, cacheParent, verbose, log, ct).ConfigureAwait(false);
            if (File.Exists(Path.Combine(dir, "README.fixed")) && File.Exists(Path.Combine(dir, "kernel")) &&
                File.Exists(Path.Combine(dir, "initrd")) && File.Exists(Path.Combine(dir, "root")))
            {
                log($"using the fixed appliance in {dir}");
                var files = new ApplianceFiles(Path.Combine(dir, "kernel"), Path.Combine(dir, "initrd"),
                    Path.Combine(dir, "root"), ApplianceKind.Fixed, dir, false);
                return files with { RootUuid = await ReadRootUuidAsync(files.Root, ct).ConfigureAwait(false) };
            }
        }
        throw new MissingDependencyException(
            $"No libguestfs appliance (a supermin.d description or a fixed appliance with README.fixed, kernel, initrd, root) in {string.Join(":", searched)}",
            "libguestfs0",
            "Or set LIBGUESTFS_PATH to a directory holding a fixed appliance.");
    }

    private static async Task<ApplianceFiles> BuildSuperminAsync(string superminDir, string? cacheParent, bool verbose,
        Action<string> log, CancellationToken ct)
    {
        string? supermin = ExternalCommand.Find("supermin");
        if (supermin is null)
            throw new MissingDependencyException("The program 'supermin' (needed to build the appliance)", "supermin");
        if (!Directory.Exists("/boot") || Directory.GetFiles("/boot", "vmlinuz-*").Length == 0)
            throw new MissingDependencyException("A Linux kernel in /boot (the appliance boots the host's kernel)", "linux-image-amd64");

        string cache = CacheDirectory(cacheParent);
        string output = Path.Combine(cache, "appliance.d");
        var args = new List<string> { "--build" };
        if (verbose) args.Add("--verbose");
        args.AddRange(new[]
        {
            "--if-newer", "--lock", Path.Combine(cache, "lock"), "--copy-kernel", "-f", "ext2",
            "--host-cpu", "x86_64", superminDir, "-o", output,
        });
        DateTime before = File.Exists(Path.Combine(output, "root")) ? File.GetLastWriteTimeUtc(Path.Combine(output, "root")) : DateTime.MinValue;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var result = await ExternalCommand.RunAsync(supermin, args, ct, TimeSpan.FromMinutes(10)).ConfigureAwait(false);
        if (!result.Success)
            throw new InvalidOperationException(
                $"supermin could not build the appliance from {superminDir} into {output} (exit {result.ExitCode}): {Tail(result.Combined, 2000)}\n" +
                "Check that the packages 'supermin', 'libguestfs0', 'guestfsd' and 'linux-image-amd64' are installed and that /boot/vmlinuz-* is readable.");
        string kernel = Path.Combine(output, "kernel"), initrd = Path.Combine(output, "initrd"), root = Path.Combine(output, "root");
        foreach (var f in new[] { kernel, initrd, root })
            if (!File.Exists(f))
                throw new InvalidOperationException($"supermin reported success but {f} is missing; remove {output} and try again");
        bool rebuilt = File.GetLastWriteTimeUtc(root) != before;
        // supermin's --if-newer compares mtimes: touch the outputs or it rebuilds every time.
        var now = DateTime.UtcNow;
        foreach (var f in new[] { kernel, initrd, root }) File.SetLastWriteTimeUtc(f, now);
        log(rebuilt
            ? $"built the appliance with supermin into {output} in {sw.Elapsed.TotalSeconds:0.0} s"
            : $"appliance cache hit: {output} is up to date ({sw.Elapsed.TotalSeconds:0.00} s)");
        var files = new ApplianceFiles(kernel, initrd, root, ApplianceKind.Supermin, superminDir, rebuilt);
        return files with { RootUuid = await ReadRootUuidAsync(root, ct).ConfigureAwait(false) };
    }

    /// <summary>Reads the ext2/3/4 UUID of the appliance root image (raw, or qcow2 via qemu-img dd).</summary>
    public static async Task<string> ReadRootUuidAsync(string root, CancellationToken ct)
    {
        byte[] head = new byte[0x478];
        int n;
        using (var fs = new FileStream(root, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            n = await fs.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (n >= 4 && head[0] == (byte)'Q' && head[1] == (byte)'F' && head[2] == (byte)'I' && head[3] == 0xfb)
        {
            string? qemuImg = ExternalCommand.Find("qemu-img")
                ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
            string tmp = Path.Combine(Path.GetTempPath(), $"guestfs-root-{Guid.NewGuid():N}");
            try
            {
                var r = await ExternalCommand.RunAsync(qemuImg, new[] { "dd", $"if={root}", $"of={tmp}", "bs=256k", "count=1" }, ct).ConfigureAwait(false);
                if (!r.Success) throw new InvalidOperationException($"qemu-img dd of {root} failed: {r.Combined}");
                head = File.ReadAllBytes(tmp);
                n = head.Length;
            }
            finally { try { File.Delete(tmp); } catch { } }
        }
        return ParseExt2Uuid(head.AsSpan(0, n), root);
    }

    /// <summary>Formats the UUID of an ext2 superblock found at byte 1024 of <paramref name="image"/>.</summary>
    public static string ParseExt2Uuid(ReadOnlySpan<byte> image, string nameForErrors)
    {
        if (image.Length < 0x478 || image[0x438] != 0x53 || image[0x439] != 0xEF)
            throw new InvalidOperationException($"the appliance root {nameForErrors} is not an ext2/3/4 image (no superblock magic); rebuild the appliance (remove the cache directory) or fix LIBGUESTFS_PATH");
        var u = image.Slice(0x468, 16);
        var sb = new StringBuilder(36);
        for (int i = 0; i < 16; i++)
        {
            if (i is 4 or 6 or 8 or 10) sb.Append('-');
            sb.Append(u[i].ToString("x2"));
        }
        return sb.ToString();
    }

    private static string Tail(string s, int max) => s.Length <= max ? s : "…" + s.Substring(s.Length - max);
}
