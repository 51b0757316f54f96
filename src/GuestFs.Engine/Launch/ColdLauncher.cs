using System;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Launch;

/// <summary>
/// Boots a fresh appliance with the session's drives on qemu's command line
/// (libguestfs's direct backend). Drive N is SCSI target N, and the daemon must
/// list exactly sda, sdb … in that order (<see cref="DiskOrder.CheckNames"/>).
/// </summary>
internal sealed class ColdLauncher : IApplianceLauncher
{
    public string Mode => "cold";

    public async Task<LaunchedAppliance> LaunchAsync(LaunchRequest r, ILaunchHost host, CancellationToken ct)
    {
        var plan = r.Plan;
        Socket? listener = LaunchSupport.Listen(plan.SocketPath);
        QemuProcess? qemu = null;
        DaemonChannel? channel = null;
        try
        {
            var args = QemuCommandLine.Build(plan);
            host.Say(MessageLevel.Debug, "qemu command line: " + r.Qemu + " " + string.Join(" ", args.Select(LaunchSupport.QuoteForLog)));
            host.Report(LaunchStage.StartingQemu, $"starting qemu ({(plan.UseKvm ? "Kvm" : "Tcg")}, {plan.MemoryMB} MiB, {plan.Smp} vCPU)");
            var t0 = r.Clock.Elapsed;
            qemu = QemuProcess.Start(r.Qemu, args, host.OnConsole, cleanupDirectory: r.TempDir);
            host.Started(qemu);
            host.Say(MessageLevel.Verbose, $"qemu started, pid {qemu.Pid}");

            using var launchCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            launchCts.CancelAfter(r.LaunchTimeout);
            try
            {
                var l = listener; listener = null;
                channel = await LaunchSupport.AcceptDaemonAsync(l, plan.SocketPath, qemu, launchCts.Token).ConfigureAwait(false);
            }
            catch (QemuExitedException)
            {
                throw LaunchSupport.Failed(qemu, host.DriveNames, "qemu exited before connecting to the daemon socket");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw LaunchSupport.Failed(qemu, host.DriveNames, $"qemu did not connect to the daemon socket within {r.LaunchTimeout.TotalSeconds:0} s");
            }
            r.Timings["qemu-start"] = r.Clock.Elapsed - t0;

            host.Report(LaunchStage.Booting, "booting the appliance");
            t0 = r.Clock.Elapsed;
            var flagTask = channel.WaitForLaunchFlagAsync(launchCts.Token);
            _ = WatchBootMarkersAsync(qemu, host, r.LaunchTimeout, launchCts.Token);
            if (await Task.WhenAny(flagTask, qemu.Exited).ConfigureAwait(false) != flagTask)
            {
                _ = flagTask.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
                throw LaunchSupport.Failed(qemu, host.DriveNames, "qemu exited during boot");
            }
            try
            {
                await flagTask.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw LaunchSupport.Failed(qemu, host.DriveNames, $"the daemon did not send the launch flag within {r.LaunchTimeout.TotalSeconds:0} s (set GUESTFS_LAUNCH_TIMEOUT to wait longer)");
            }
            catch (GuestFsProtocolException e)
            {
                throw LaunchSupport.Failed(qemu, host.DriveNames, e.DaemonMessage);
            }
            string[] listed;
            try
            {
                listed = await LaunchSupport.CallWhileWatchingAsync(channel, qemu, LaunchSupport.Request("list_devices"),
                    XdrDecoders.StringArray, launchCts.Token).ConfigureAwait(false);
            }
            catch (QemuExitedException e)
            {
                throw LaunchSupport.Failed(qemu, host.DriveNames, e.Message);
            }
            string? misnamed = DiskOrder.CheckNames(listed, plan.Drives.Count);
            if (misnamed is not null)
                throw LaunchSupport.Failed(qemu, host.DriveNames, "the appliance did not name its disks in drive order: " + misnamed);
            r.Timings["boot"] = r.Clock.Elapsed - t0;
            return new LaunchedAppliance(qemu, channel);
        }
        catch
        {
            await LaunchSupport.StopAsync(qemu, channel, listener).ConfigureAwait(false);
            if (listener is not null) { try { File.Delete(plan.SocketPath); } catch { } }
            throw;
        }
    }

    private static async Task WatchBootMarkersAsync(QemuProcess qemu, ILaunchHost host, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            if (await qemu.WaitForConsoleAsync("Linux version", timeout, ct).ConfigureAwait(false) && !ct.IsCancellationRequested)
                host.Report(LaunchStage.WaitingForDaemon, "kernel started; waiting for the daemon");
        }
        catch (Exception) { /* only a progress message */ }
    }
}
