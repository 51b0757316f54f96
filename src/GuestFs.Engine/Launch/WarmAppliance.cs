using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Launch;

/// <summary>A saved appliance: guest RAM, the frozen root overlay and the device-state stream.</summary>
internal sealed record WarmImage(string Directory, string Key)
{
    public string Ram => Path.Combine(Directory, "ram");
    public string SavedRoot => Path.Combine(Directory, "saved.qcow2");
    public string State => Path.Combine(Directory, "state");
}

/// <summary>
/// The saved appliance behind warm relaunch (docs/warm.md). It is booted once
/// with no user disk and saved right after the daemon answered; every warm
/// session then restores a fresh private copy of it (RAM mapped copy-on-write,
/// its own root overlay) and hot-plugs its own disks. Nothing is reused across
/// sessions. The image lives in the per-user appliance cache under a name
/// derived from everything it was built from, so anything stale is never used.
/// </summary>
internal static class WarmAppliance
{
    /// <summary>Bump when the layout or the way the VM is saved changes.</summary>
    private const int FormatVersion = 1;
    private const UnixFileMode DirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// The cache key: the qemu arguments of the saved VM (memory, vCPUs, CPU
    /// model, accelerator, devices, kernel command line) with the per-run paths
    /// replaced by placeholders, plus the identity of the qemu binary and of the
    /// appliance files, and the host boot.
    /// </summary>
    public static string ComputeKey(QemuLaunchPlan plan, string qemu)
    {
        var canonical = plan with
        {
            SocketPath = "@daemon", ApplianceOverlay = "@root", RamFile = "@ram", QmpSocket = "@qmp",
            RamShared = true, Incoming = false, Drives = Array.Empty<QemuDrive>(),
        };
        var sb = new StringBuilder();
        sb.Append("format ").Append(FormatVersion).Append('\n');
        sb.Append("args ").Append(string.Join('\u001f', QemuCommandLine.Build(canonical))).Append('\n');
        // The appliance's files are touched on every launch (so supermin does not
        // rebuild them), so their times say nothing: the kernel and initrd are
        // identified by content, the root by its filesystem UUID (new on every
        // supermin build; it is in the kernel command line above) and size.
        var q = new FileInfo(qemu);
        sb.Append("qemu ").Append(q.FullName).Append(' ').Append(q.Exists ? q.Length : -1).Append(' ')
          .Append(q.Exists ? q.LastWriteTimeUtc.Ticks : 0).Append('\n');
        sb.Append("kernel ").Append(ContentHash(plan.Appliance.Kernel)).Append('\n');
        sb.Append("initrd ").Append(ContentHash(plan.Appliance.Initrd)).Append('\n');
        var root = new FileInfo(plan.Appliance.Root);
        sb.Append("root ").Append(root.FullName).Append(' ').Append(root.Exists ? root.Length : -1).Append('\n');
        string boot = "";
        try { boot = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(); } catch { }
        sb.Append("boot ").Append(boot).Append('\n');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()))).ToLowerInvariant();
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long, long), string> s_hashes = new();

    private static string ContentHash(string path)
    {
        var fi = new FileInfo(path);
        if (!fi.Exists) return "missing";
        // Cached per process by path, size and change time (a touch re-hashes once).
        return s_hashes.GetOrAdd((fi.FullName, fi.Length, fi.LastWriteTimeUtc.Ticks), _ =>
        {
            using var f = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(f));
        });
    }

    public static string Root(string cacheDir) => Path.Combine(cacheDir, "warm");

    /// <summary>The usable saved image for <paramref name="key"/>, or null with the reason it is not usable.</summary>
    public static (WarmImage? Image, string Reason) Find(string cacheDir, string key, int memoryMB)
    {
        string dir = Path.Combine(Root(cacheDir), key.Substring(0, 24));
        var image = new WarmImage(dir, key);
        if (!Directory.Exists(dir)) return (null, "no saved appliance yet");
        string failed = dir + ".failed";
        if (File.Exists(failed))
            return (null, "saving the appliance failed earlier: " + SafeRead(failed));
        string marker = Path.Combine(dir, "ok");
        if (!File.Exists(marker)) return (null, "the saved appliance is incomplete");
        if (SafeRead(marker) != key) return (null, "the saved appliance belongs to another build (stale)");
        var ram = new FileInfo(image.Ram);
        if (!ram.Exists || ram.Length != (long)memoryMB * 1024 * 1024) return (null, "the saved appliance's RAM file is missing or truncated");
        var state = new FileInfo(image.State);
        if (!state.Exists || state.Length < 1024) return (null, "the saved appliance's state file is missing or truncated");
        if (!File.Exists(image.SavedRoot)) return (null, "the saved appliance's root overlay is missing");
        var mode = File.GetUnixFileMode(dir);
        if ((mode & ~DirMode) != 0) return (null, "the saved appliance's directory is not private (0700)");
        return (image, "");
    }

    private static string SafeRead(string path)
    {
        try { return File.ReadAllText(path).Trim(); } catch { return ""; }
    }

    /// <summary>Removes a saved image that failed to restore, so the next launch saves a new one.</summary>
    public static void Discard(WarmImage image)
    {
        try { Directory.Delete(image.Directory, recursive: true); } catch { }
    }

    /// <summary>
    /// Returns the saved image for the plan, booting and saving it first when
    /// there is none (one process at a time: a lock file serialises builders).
    /// </summary>
    public static async Task<WarmImage> EnsureAsync(QemuLaunchPlan plan, string qemu, string qemuImg, string cacheDir,
        TimeSpan bootTimeout, Action<string> say, CancellationToken ct)
    {
        string key = ComputeKey(plan, qemu);
        var (found, reason) = Find(cacheDir, key, plan.MemoryMB);
        if (found is not null) return found;

        string root = Root(cacheDir);
        Directory.CreateDirectory(root, DirMode);
        File.SetUnixFileMode(root, DirMode);
        string dir = Path.Combine(root, key.Substring(0, 24));
        using var lockFile = await AcquireLockAsync(dir + ".lock", bootTimeout + TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
        (found, reason) = Find(cacheDir, key, plan.MemoryMB); // another process may have saved it meanwhile
        if (found is not null) return found;
        if (reason.StartsWith("saving the appliance failed earlier", StringComparison.Ordinal))
            throw new IOException(reason);

        say($"warm: saving an appliance for later launches ({reason})");
        string build = dir + ".build-" + Path.GetRandomFileName().Replace(".", "");
        Directory.CreateDirectory(build, DirMode);
        File.SetUnixFileMode(build, DirMode);
        try
        {
            await BuildAsync(plan, qemu, qemuImg, build, key, bootTimeout, say, ct).ConfigureAwait(false);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.Move(build, dir);
        }
        catch (Exception e)
        {
            try { Directory.Delete(build, recursive: true); } catch { }
            if (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // Remember the failure for this exact build, so every launch does not pay for it again.
                try { File.WriteAllText(dir + ".failed", e.Message.Replace('\n', ' ')); File.SetUnixFileMode(dir + ".failed", FileMode600); } catch { }
            }
            throw;
        }
        (found, reason) = Find(cacheDir, key, plan.MemoryMB);
        return found ?? throw new IOException("the appliance was saved but does not validate: " + reason);
    }

    private static async Task<FileStream> AcquireLockAsync(string path, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                try { File.SetUnixFileMode(path, FileMode600); } catch { }
                return fs;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Boots the disk-less appliance, waits for the daemon, and saves the VM into <paramref name="dir"/>.</summary>
    private static async Task BuildAsync(QemuLaunchPlan plan, string qemu, string qemuImg, string dir, string key,
        TimeSpan bootTimeout, Action<string> say, CancellationToken ct)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        string saved = Path.Combine(dir, "saved.qcow2");
        var r = await ExternalCommand.RunAsync(qemuImg, new[]
        {
            "create", "-q", "-f", "qcow2", "-o", $"backing_file={QemuCommandLine.Escape(plan.Appliance.Root)},backing_fmt=raw", saved,
        }, ct, TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        if (!r.Success) throw new IOException("could not create the appliance overlay: " + r.Combined);

        string daemonSock = Path.Combine(dir, "d.sock"), qmpSock = Path.Combine(dir, "q.sock");
        var buildPlan = plan with
        {
            SocketPath = daemonSock, ApplianceOverlay = saved, RamFile = Path.Combine(dir, "ram"), RamShared = true,
            QmpSocket = qmpSock, Incoming = false, Drives = Array.Empty<QemuDrive>(),
        };
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(daemonSock));
        listener.Listen(1);
        using var qemuProcess = QemuProcess.Start(qemu, QemuCommandLine.Build(buildPlan), null, cleanupDirectory: dir, workingDirectory: dir);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(bootTimeout);
        try
        {
            var accept = listener.AcceptAsync(cts.Token).AsTask();
            if (await Task.WhenAny(accept, qemuProcess.Exited).ConfigureAwait(false) != accept)
                throw new IOException($"qemu exited while starting the appliance to save (status {qemuProcess.ExitCode}): {LastLine(qemuProcess.ConsoleTail)}");
            using var channel = new DaemonChannel(new NetworkStream(await accept.ConfigureAwait(false), ownsSocket: true));
            var flag = channel.WaitForLaunchFlagAsync(cts.Token);
            if (await Task.WhenAny(flag, qemuProcess.Exited).ConfigureAwait(false) != flag)
                throw new IOException($"qemu exited while booting the appliance to save (status {qemuProcess.ExitCode}): {LastLine(qemuProcess.ConsoleTail)}");
            await flag.ConfigureAwait(false);
            // One cheap call, so the daemon is idle in its request loop when saved.
            var devices = await channel.CallAsync(new RpcRequest(7, "list_devices"), XdrDecoders.StringArray).WaitAsync(cts.Token).ConfigureAwait(false);
            if (devices.Length != 0) throw new IOException("the disk-less appliance unexpectedly lists devices: " + string.Join(", ", devices));
            say($"warm: appliance booted in {sw.Elapsed.TotalSeconds:0.0} s; saving it");

            using var qmp = await QmpClient.ConnectAsync(qmpSock, qemuProcess.Exited, TimeSpan.FromSeconds(10), cts.Token).ConfigureAwait(false);
            await qmp.ExecuteAsync("stop", null, cts.Token).ConfigureAwait(false);
            await SetIgnoreSharedAsync(qmp, cts.Token).ConfigureAwait(false);
            // The stream goes to a fixed relative name in qemu's working directory
            // (this directory); no path or user text reaches the command.
            await qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = "exec:cat > state" }, cts.Token).ConfigureAwait(false);
            await qmp.WaitForMigrationAsync(TimeSpan.FromSeconds(60), cts.Token).ConfigureAwait(false);
            try { await qmp.ExecuteAsync("quit", null, cts.Token).ConfigureAwait(false); } catch (IOException) { }
            await Task.WhenAny(qemuProcess.Exited, Task.Delay(TimeSpan.FromSeconds(10), cts.Token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"the appliance to save did not start within {bootTimeout.TotalSeconds:0} s");
        }
        finally
        {
            qemuProcess.Kill();
        }
        foreach (var f in new[] { daemonSock, qmpSock }) { try { File.Delete(f); } catch { } }
        foreach (var f in Directory.GetFiles(dir)) File.SetUnixFileMode(f, FileMode600);
        File.WriteAllText(Path.Combine(dir, "ok"), key);
        File.SetUnixFileMode(Path.Combine(dir, "ok"), FileMode600);
        say($"warm: appliance saved in {sw.Elapsed.TotalSeconds:0.0} s ({new FileInfo(Path.Combine(dir, "state")).Length / 1024} KiB of device state)");
    }

    /// <summary>RAM lives in the file: leave it out of the stream (must match on save and restore).</summary>
    public static Task SetIgnoreSharedAsync(QmpClient qmp, CancellationToken ct) =>
        qmp.ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "x-ignore-shared", ["state"] = true }),
        }, ct);

    /// <summary>Hot-plugs one user drive (after a restore) as the cold launch attaches it.</summary>
    public static async Task HotPlugAsync(QmpClient qmp, QemuDrive d, CancellationToken ct)
    {
        string node = "hd" + d.Index;
        var args = new JsonObject
        {
            ["driver"] = d.Overlay ? "qcow2" : (d.Format ?? "raw"),
            ["node-name"] = node,
            ["cache"] = new JsonObject { ["direct"] = false, ["no-flush"] = d.CacheMode == "unsafe" },
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = d.File },
        };
        if (d.Discard)
        {
            // Both nodes: the format layer passes the guest's unmap down, the file
            // layer punches the hole in the host file.
            args["discard"] = "unmap";
            ((JsonObject)args["file"]!)["discard"] = "unmap";
        }
        await qmp.ExecuteAsync("blockdev-add", args, ct).ConfigureAwait(false);
        var dev = new JsonObject
        {
            ["driver"] = "scsi-hd", ["drive"] = node, ["bus"] = "scsi.0", ["id"] = "disk" + d.Index,
            ["channel"] = 0, ["scsi-id"] = d.Index, ["lun"] = 0,
        };
        if (d.Label is not null) dev["serial"] = d.Label;
        await qmp.ExecuteAsync("device_add", dev, ct).ConfigureAwait(false);
    }

    private static string LastLine(string s) => s.Replace("\r", "").TrimEnd().Split('\n').LastOrDefault() ?? "";
}
