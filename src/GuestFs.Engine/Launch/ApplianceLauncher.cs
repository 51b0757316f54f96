using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Launch;

/// <summary>
/// What a launcher needs from the session that runs it. The session keeps the
/// state machine; a launcher only starts qemu and hands back a daemon channel.
/// </summary>
internal interface ILaunchHost
{
    void Report(LaunchStage stage, string text);
    void Say(MessageLevel level, string text);
    void OnConsole(string text);
    /// <summary>qemu is running: from here on the session can kill it (Ctrl+C, process exit).</summary>
    void Started(QemuProcess qemu);
    /// <summary>The images of the session's drives, for "in use" errors.</summary>
    IReadOnlyList<string> DriveNames { get; }
}

/// <summary>Everything one launch attempt is made from.</summary>
internal sealed record LaunchRequest
{
    public required string Qemu { get; init; }
    public required string QemuImg { get; init; }
    /// <summary>The cold-boot plan with the session's drives (already overlaid where read-only).</summary>
    public required QemuLaunchPlan Plan { get; init; }
    /// <summary>The session's private (0700) directory.</summary>
    public required string TempDir { get; init; }
    public required string CacheDir { get; init; }
    public required TimeSpan LaunchTimeout { get; init; }
    public required Stopwatch Clock { get; init; }
    public required Dictionary<string, TimeSpan> Timings { get; init; }
}

/// <summary>qemu and the daemon's channel, answering and with every drive attached in order.</summary>
internal sealed record LaunchedAppliance(QemuProcess Qemu, DaemonChannel Channel);

/// <summary>
/// One way to bring an appliance up (libguestfs's backend_ops: create overlay,
/// launch, shutdown). <see cref="ColdLauncher"/> boots qemu with the drives on its
/// command line; <see cref="WarmLauncher"/> restores the saved appliance and
/// hot-plugs them. A launcher that fails stops what it started and throws; the
/// session may then try the next one. To add a launcher, implement this and
/// choose it in <c>GuestSession.LaunchAsync</c>.
/// </summary>
internal interface IApplianceLauncher
{
    /// <summary>"cold" or "warm" (the session's LaunchMode).</summary>
    string Mode { get; }

    Task<LaunchedAppliance> LaunchAsync(LaunchRequest request, ILaunchHost host, CancellationToken ct);
}

/// <summary>The pieces both launchers (and the read-only drive preparation) share.</summary>
internal static class LaunchSupport
{
    /// <summary>A daemon request for a procedure without arguments, numbered from the generated catalog.</summary>
    public static RpcRequest Request(string name, Action<XdrWriter>? writeArgs = null)
    {
        var p = ProcedureCatalog.Find(name) ?? throw new InvalidOperationException($"'{name}' is not in the procedure catalog");
        return new RpcRequest(p.Number, p.Name, 0, writeArgs);
    }

    /// <summary>The daemon's debug "sh" with fixed arguments (no user text): run by the appliance's shell.</summary>
    public static RpcRequest DebugShell(params string[] args) => Request("debug", w =>
    {
        w.WriteString("sh");
        w.WriteStringArray(args);
    });

    /// <summary>A listening unix socket at <paramref name="path"/> for qemu's daemon channel.</summary>
    public static Socket Listen(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Bind(new UnixDomainSocketEndPoint(path));
            s.Listen(1);
            return s;
        }
        catch { s.Dispose(); throw; }
    }

    /// <summary>
    /// Accepts qemu's connection to the daemon socket while watching qemu: a qemu
    /// that exits first fails at once with its status and last console line
    /// instead of leaving the accept to time out. Closes the listener and its file.
    /// </summary>
    public static async Task<DaemonChannel> AcceptDaemonAsync(Socket listener, string socketPath, QemuProcess qemu, CancellationToken ct)
    {
        try
        {
            var acceptTask = listener.AcceptAsync(ct).AsTask();
            if (await Task.WhenAny(acceptTask, qemu.Exited).ConfigureAwait(false) != acceptTask)
            {
                _ = acceptTask.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
                throw new QemuExitedException($"qemu exited before connecting to the daemon socket (status {qemu.ExitCode}): {LastLine(qemu.ConsoleTail)}");
            }
            var accepted = await acceptTask.ConfigureAwait(false);
            return new DaemonChannel(new NetworkStream(accepted, ownsSocket: true));
        }
        finally
        {
            listener.Dispose();
            try { File.Delete(socketPath); } catch { }
        }
    }

    /// <summary>One daemon call during setup, abandoned if qemu exits or <paramref name="ct"/> fires.</summary>
    public static async Task<T> CallWhileWatchingAsync<T>(DaemonChannel channel, QemuProcess qemu, RpcRequest request,
        ReplyDecoder<T> decoder, CancellationToken ct)
    {
        var call = channel.CallAsync(request, decoder);
        var done = await Task.WhenAny(call, qemu.Exited, Task.Delay(Timeout.Infinite, ct)).ConfigureAwait(false);
        if (done == call) return await call.ConfigureAwait(false);
        channel.Break(request.Name, "abandoned");
        _ = call.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        ct.ThrowIfCancellationRequested();
        throw new QemuExitedException($"qemu exited while the appliance was being set up (status {qemu.ExitCode}): {LastLine(qemu.ConsoleTail)}");
    }

    /// <summary>
    /// Creates a qcow2 overlay over <paramref name="backing"/> (a path or a json:
    /// name) so nothing is ever written to the backing. <paramref name="objects"/>
    /// are qemu objects (secrets) the backing's name refers to.
    /// </summary>
    public static async Task CreateOverlayAsync(string qemuImg, string backing, string backingFormat, string overlay,
        IEnumerable<string> objects, string what, CancellationToken ct, TimeSpan timeout)
    {
        var args = new List<string> { "create", "-q" };
        foreach (var o in objects) { args.Add("--object"); args.Add(o); }
        args.AddRange(new[] { "-f", "qcow2", "-b", backing, "-F", backingFormat, overlay });
        var r = await ExternalCommand.RunAsync(qemuImg, args, ct, timeout).ConfigureAwait(false);
        if (!r.Success)
            throw new IOException($"could not create the read-only overlay for {what} ({backingFormat}): {r.Combined}");
    }

    /// <summary>Stops a qemu a failed launch started (its console tail stays readable).</summary>
    public static async Task StopAsync(QemuProcess? qemu, DaemonChannel? channel, Socket? listener)
    {
        try { channel?.Dispose(); } catch { }
        try { listener?.Dispose(); } catch { }
        if (qemu is null) return;
        qemu.Kill();
        await Task.WhenAny(qemu.Exited, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
    }

    public static bool IsLockError(string text) =>
        text.Contains("Failed to get \"write\" lock", StringComparison.Ordinal) ||
        text.Contains("Failed to get shared \"write\" lock", StringComparison.Ordinal);

    public static DriveInUseException DriveInUse(string path) =>
        new($"The disk image '{path}' is in use: another process (a running virtual machine, or another writable session) holds its write lock. " +
            "Stop that process or close that session first (qemu's image locking refuses even a read-only session while another process writes to the image).");

    /// <summary>A launch failure with the end of the console; a lock conflict becomes <see cref="DriveInUseException"/>'s text.</summary>
    public static GuestFsLaunchException Failed(QemuProcess? qemu, IReadOnlyList<string> driveNames, string what)
    {
        string tail = qemu?.ConsoleTail ?? "";
        if (IsLockError(tail))
        {
            var m = Regex.Match(tail, @"Is another process using the image \[([^\]]+)\]");
            return new GuestFsLaunchException(DriveInUse(m.Success ? m.Groups[1].Value : string.Join(", ", driveNames)).Message, tail);
        }
        string exit = qemu is { HasExited: true } q ? $" (qemu exit status {q.ExitCode})" : "";
        return new GuestFsLaunchException($"launch failed: {what}{exit}. " +
            "Run with -Debug or LIBGUESTFS_DEBUG=1 to see the whole appliance console.", tail);
    }

    public static string LastLine(string s) => s.Replace("\r", "").TrimEnd().Split('\n').LastOrDefault() ?? "";

    public static string QuoteForLog(string a) => a.IndexOfAny(new[] { ' ', '"', '\'' }) >= 0 ? "'" + a.Replace("'", "'\\''") + "'" : a;
}

/// <summary>qemu exited while a launcher waited for it.</summary>
internal sealed class QemuExitedException : IOException
{
    public QemuExitedException(string message) : base(message) { }
}
