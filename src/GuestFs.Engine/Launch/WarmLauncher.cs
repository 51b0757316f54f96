using System;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Launch;

/// <summary>
/// Warm relaunch (docs/warm.md): restores a fresh private copy of the saved
/// appliance (saving it first if there is none), checks the daemon answers, sets
/// the guest clock, and hot-plugs the session's drives, proving their
/// order from sysfs (<see cref="DiskOrder.Check"/>). Any failure is thrown; the
/// session then boots cold.
/// </summary>
internal sealed class WarmLauncher : IApplianceLauncher
{
    /// <summary>Deadline for restore + first reply + hot-plug, after the saved image exists.</summary>
    internal static TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(30);

    public string Mode => "warm";

    /// <summary>
    /// Attach the drives one at a time, each only once the daemon lists the one
    /// before: slower (every probe is paid in turn) but the kernel then names them in
    /// order. Used for a second try after the guest named disks plugged together out of order.
    /// </summary>
    public bool OneAtATime { get; init; }

    /// <summary>The files a failed warm attempt leaves in the temp dir (removed before a cold boot).</summary>
    public static readonly string[] Files = { "appliance.qcow2", "guestfsd.sock", "qmp.sock" };

    public async Task<LaunchedAppliance> LaunchAsync(LaunchRequest r, ILaunchHost host, CancellationToken ct)
    {
        var sw = r.Clock;
        var timings = r.Timings;
        var drives = r.Plan.Drives;
        host.Report(LaunchStage.StartingQemu, "warm: looking for the saved appliance");
        var t0 = sw.Elapsed;
        var image = await WarmAppliance.EnsureAsync(r.Plan, r.Qemu, r.QemuImg, r.CacheDir, r.LaunchTimeout,
            m => host.Say(MessageLevel.Verbose, m), ct).ConfigureAwait(false);
        timings["warm-save"] = sw.Elapsed - t0;

        // Everything after the save must be quick; a guest that does not answer in
        // time is abandoned for a cold boot.
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Deadline);
        var token = cts.Token;
        bool restored = false;
        Socket? listener = null;
        QemuProcess? qemu = null;
        DaemonChannel? channel = null;
        try
        {
            t0 = sw.Elapsed;
            string overlay = Path.Combine(r.TempDir, "appliance.qcow2");
            await LaunchSupport.CreateOverlayAsync(r.QemuImg, image.SavedRoot, "qcow2", overlay, Array.Empty<string>(),
                "the saved appliance", token, TimeSpan.FromSeconds(30)).ConfigureAwait(false);

            string socketPath = Path.Combine(r.TempDir, "guestfsd.sock");
            string qmpPath = Path.Combine(r.TempDir, "qmp.sock");
            listener = LaunchSupport.Listen(socketPath);
            var plan = r.Plan with
            {
                SocketPath = socketPath, ApplianceOverlay = overlay, RamFile = image.Ram, RamShared = false,
                QmpSocket = qmpPath, Incoming = true, Drives = Array.Empty<QemuDrive>(),
            };
            var args = QemuCommandLine.Build(plan);
            host.Say(MessageLevel.Debug, "qemu command line (warm): " + r.Qemu + " " + string.Join(" ", args.Select(LaunchSupport.QuoteForLog)));
            host.Report(LaunchStage.StartingQemu, "warm: restoring the saved appliance");
            qemu = QemuProcess.Start(r.Qemu, args, host.OnConsole, cleanupDirectory: r.TempDir, workingDirectory: image.Directory);
            host.Started(qemu);
            host.Say(MessageLevel.Verbose, $"qemu started, pid {qemu.Pid} (restoring {image.Directory})");

            var l = listener; listener = null;
            channel = await LaunchSupport.AcceptDaemonAsync(l, socketPath, qemu, token).ConfigureAwait(false);

            using (var qmp = await QmpClient.ConnectAsync(qmpPath, qemu.Exited, TimeSpan.FromSeconds(10), token).ConfigureAwait(false))
            {
                await WarmAppliance.SetIgnoreSharedAsync(qmp, token).ConfigureAwait(false);
                // Fixed relative name in qemu's working directory (the saved image's).
                await qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = "exec:cat state" }, token).ConfigureAwait(false);
                await qmp.WaitForMigrationAsync(TimeSpan.FromSeconds(30), token).ConfigureAwait(false);
                await qmp.ExecuteAsync("cont", null, token).ConfigureAwait(false);
                timings["warm-restore"] = sw.Elapsed - t0;

                t0 = sw.Elapsed;
                host.Report(LaunchStage.WaitingForDaemon, "warm: waiting for the daemon's first reply");
                var none = await LaunchSupport.CallWhileWatchingAsync(channel, qemu, LaunchSupport.Request("list_devices"), XdrDecoders.StringArray, token).ConfigureAwait(false);
                if (none.Length != 0) throw new IOException("the restored appliance already lists devices: " + string.Join(", ", none));
                restored = true;
                timings["warm-first-reply"] = sw.Elapsed - t0;

                // The guest clock resumes from the moment the appliance was saved:
                // set it to now, or new files would get old timestamps. The daemon
                // runs the program directly (no shell) with these fixed arguments.
                long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                try
                {
                    await LaunchSupport.CallWhileWatchingAsync(channel, qemu,
                        LaunchSupport.DebugShell("date", "-u", "-s", "@" + now.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                        XdrDecoders.String, token).ConfigureAwait(false);
                }
                catch (GuestFsException e) when (e is not GuestFsProtocolException)
                {
                    throw new IOException("could not set the restored appliance's clock: " + e.Message, e);
                }

                t0 = sw.Elapsed;
                host.Report(LaunchStage.WaitingForDaemon, $"warm: attaching {drives.Count} disk(s)");
                // The guest kernel names hot-plugged SCSI disks in the order their probes
                // finish, and this daemon's name translation was set up at boot with no
                // disks, so /dev/sdX is whatever the kernel chose. All drives are plugged
                // at once (their probes overlap, which keeps this fast on a busy machine;
                // one at a time cost about 12 s per disk under load), then the sysfs check
                // below proves that /dev/sdX is drive X before any call can touch a disk;
                // if it is not, this warm launch fails and the cold boot (whose daemon
                // translates names by SCSI target) takes over.
                foreach (var d in drives)
                {
                    try
                    {
                        await WarmAppliance.HotPlugAsync(qmp, d, token).ConfigureAwait(false);
                    }
                    catch (QmpException e) when (LaunchSupport.IsLockError(e.Message))
                    {
                        throw LaunchSupport.DriveInUse(host.DriveNames[d.Index]);
                    }
                    catch (QmpException e)
                    {
                        throw new IOException($"hot-plugging {d.Source.Display} failed: {e.Message}", e);
                    }
                    if (OneAtATime) await WaitForDevicesAsync(d.Index + 1).ConfigureAwait(false);
                }
                await WaitForDevicesAsync(drives.Count).ConfigureAwait(false);

                async Task WaitForDevicesAsync(int count)
                {
                    while (true)
                    {
                        var seen = await LaunchSupport.CallWhileWatchingAsync(channel, qemu, LaunchSupport.Request("list_devices"), XdrDecoders.StringArray, token).ConfigureAwait(false);
                        if (seen.Length == count) return;
                        if (seen.Length > count) throw new IOException($"the restored appliance lists {seen.Length} devices for {count} drive(s)");
                        await Task.Delay(10, token).ConfigureAwait(false);
                    }
                }
                if (drives.Count > 0)
                {
                    string map = await LaunchSupport.CallWhileWatchingAsync(channel, qemu, LaunchSupport.DebugShell(DiskOrder.SysfsScript),
                        XdrDecoders.String, token).ConfigureAwait(false);
                    string? problem = DiskOrder.Check(map, drives.Select(x => x.Index).ToList());
                    if (problem is not null) throw new DiskOrderException("the hot-plugged disks were named out of order: " + problem);
                }
                timings["warm-hotplug"] = sw.Elapsed - t0;
            }
            timings["qemu-start"] = TimeSpan.Zero;
            timings["boot"] = timings["warm-restore"] + timings["warm-first-reply"];
            host.Say(MessageLevel.Verbose, $"warm: restored in {timings["warm-restore"].TotalSeconds:0.00} s, first reply after {timings["warm-first-reply"].TotalSeconds:0.00} s, disks attached in {timings["warm-hotplug"].TotalSeconds:0.00} s");
            return new LaunchedAppliance(qemu, channel);
        }
        catch (Exception e)
        {
            await LaunchSupport.StopAsync(qemu, channel, listener).ConfigureAwait(false);
            foreach (var f in Files)
                try { File.Delete(Path.Combine(r.TempDir, f)); } catch { }
            if (ct.IsCancellationRequested) throw;
            if (!restored)
            {
                // The saved image itself is suspect: drop it so the next launch saves a new one.
                host.Say(MessageLevel.Verbose, $"warm: discarding the saved appliance {image.Directory}");
                WarmAppliance.Discard(image);
            }
            if (e is OperationCanceledException)
                throw new TimeoutException($"the restored appliance did not become ready within {Deadline.TotalSeconds:0} s", e);
            throw;
        }
    }
}
