using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Session;

/// <summary>
/// One appliance and its disks: the managed equivalent of a libguestfs handle.
/// States go CONFIG → LAUNCHING → READY, back to CONFIG when qemu dies or on
/// <see cref="ShutdownAsync"/>, and CLOSED after dispose. Calls are allowed
/// only in READY and run one at a time (any thread may call). Events are
/// raised on engine threads; a UI must marshal them itself.
/// </summary>
public sealed partial class GuestSession : IDisposable, IAsyncDisposable
{
    private static int s_nextId;
    private static readonly ConcurrentDictionary<int, GuestSession> s_live = new();

    private readonly object _stateLock = new();
    private readonly SemaphoreSlim _callLock = new(1, 1);
    private readonly List<Drive> _drives = new();
    private readonly List<Remote.NbdExportServer> _bridges = new();
    private GuestSessionState _state = GuestSessionState.Config;
    private DaemonChannel? _channel;
    private QemuProcess? _qemu;
    private string? _tempDir;

    static GuestSession()
    {
        // Sessions still open when the process exits must not leave qemu behind.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var s in s_live.Values)
            {
                try { s.KillNow("the host process is exiting"); } catch { }
            }
        };
    }

    public GuestSession(GuestSessionOptions? options = null)
    {
        Options = options ?? GuestSessionOptions.FromEnvironment();
        Options.Validate();
        Id = Interlocked.Increment(ref s_nextId);
        s_live[Id] = this;
    }

    /// <summary>Process-unique number of this session.</summary>
    public int Id { get; }

    public GuestSessionOptions Options { get; private set; }

    public GuestSessionState State { get { lock (_stateLock) return _state; } }

    public IReadOnlyList<Drive> Drives { get { lock (_stateLock) return _drives.ToArray(); } }

    /// <summary>True when the accelerator of the running appliance is KVM; null before the first launch.</summary>
    public AcceleratorKind? AcceleratorInUse { get; private set; }

    /// <summary>Why that accelerator was chosen (for the verbose stream and the session object).</summary>
    public string? AcceleratorReason { get; private set; }

    public LaunchTimings? LastLaunch { get; private set; }

    public DateTime? LaunchedAt { get; private set; }

    public int? QemuProcessId => _qemu?.Pid;

    /// <summary>Daemon calls made by this session so far (each is one round trip).</summary>
    public long CallCount => Interlocked.Read(ref _callCount);
    private long _callCount;

    /// <summary>The private (0700) directory holding the socket and overlays while launched.</summary>
    public string? TempDirectory => _tempDir;

    /// <summary>The appliance files the last launch booted.</summary>
    public ApplianceFiles? Appliance { get; private set; }

    /// <summary>The last part of the appliance console (for diagnostics).</summary>
    public string ConsoleTail => _qemu?.ConsoleTail ?? _lastConsoleTail ?? "";
    private string? _lastConsoleTail;

    public event EventHandler<GuestProgressEventArgs>? Progress;
    public event EventHandler<LaunchProgressEventArgs>? LaunchProgress;
    /// <summary>Raw appliance console text (kernel, init, guestfsd, qemu's own messages).</summary>
    public event EventHandler<string>? ApplianceLog;
    /// <summary>Verbose and debug messages from the engine itself.</summary>
    public event EventHandler<GuestMessageEventArgs>? Message;
    /// <summary>Every call and its result, when <see cref="GuestSessionOptions.Trace"/> is on.</summary>
    public event EventHandler<string>? TraceMessage;
    public event EventHandler<StateChangedEventArgs>? StateChanged;
    /// <summary>qemu exited while the session was not shutting it down.</summary>
    public event EventHandler<string>? SubprocessQuit;

    // ------------------------------------------------------------ config

    /// <summary>Changes launch settings; only in CONFIG.</summary>
    public void Configure(Func<GuestSessionOptions, GuestSessionOptions> change)
    {
        RequireConfig("configure");
        var o = change(Options);
        o.Validate();
        Options = o;
    }

    private static readonly Regex FormatRegex = new("^[-_A-Za-z0-9]+$", RegexOptions.CultureInvariant);
    private static readonly Regex LabelRegex = new("^[A-Za-z]{1,20}$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Adds a disk image. Read-only unless <see cref="DriveOptions.ReadOnly"/> is false.
    /// Only in CONFIG; the first drive becomes /dev/sda.
    /// </summary>
    public Drive AddDrive(string path, DriveOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new DriveOptions();
        RequireConfig("add_drive");
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new ArgumentException($"'{full}' is a directory, not a disk image; pass the path of an image file (raw, qcow2 …)", nameof(path));
        if (!System.IO.File.Exists(full) && !full.StartsWith("/dev/", StringComparison.Ordinal))
            throw new FileNotFoundException($"The disk image '{full}' does not exist; check the path (New-GuestDiskImage creates a new one)", full);
        try
        {
            using var probe = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (probe.Length == 0 && !full.StartsWith("/dev/", StringComparison.Ordinal))
                throw new ArgumentException($"The disk image '{full}' is empty (0 bytes), so it holds no disk; check the path, or create an image with New-GuestDiskImage", nameof(path));
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"The disk image '{full}' is not readable by this user; fix its permissions or run as a user that can read it", e);
        }
        return AddDriveCore(DriveSource.File(full), options);
    }

    /// <summary>
    /// Adds a drive from any source (a local file, or a network disk: nbd, ssh,
    /// http(s), ftp(s), iscsi, rbd, gluster). Read-only by default: a read-only
    /// drive is opened through a local overlay, so nothing is written to the source.
    /// </summary>
    public Drive AddDrive(DriveSource source, DriveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source is FileDriveSource f) return AddDrive(f.Path, options);
        options ??= new DriveOptions();
        RequireConfig("add_drive");
        if (source.Secret is not null && !source.TakesSecret)
            throw new ArgumentException($"{source.Protocol} does not take a password or secret ({source.Display}); " +
                (source.Protocol == "ssh" ? "ssh authenticates with a key held by ssh-agent (SSH_AUTH_SOCK)" : "leave -Credential out"), nameof(source));
        if (source is CurlDriveSource && !options.ReadOnly)
            throw new ArgumentException($"{source.Display}: qemu's {source.Protocol} driver is read-only; open it without -Writable (changes then go to a local overlay)", nameof(options));
        return AddDriveCore(source, options);
    }

    private Drive AddDriveCore(DriveSource source, DriveOptions options)
    {
        if (options.Format is not null && !FormatRegex.IsMatch(options.Format))
            throw new ArgumentException($"format '{options.Format}' is not a valid image format name (use raw, qcow2, vmdk …)", nameof(options));
        if (options.Label is not null && !LabelRegex.IsMatch(options.Label))
            throw new ArgumentException($"label '{options.Label}' must be 1 to 20 letters A–Z", nameof(options));
        if (options.CacheMode is not null && options.CacheMode is not ("writeback" or "unsafe"))
            throw new ArgumentException($"cache mode '{options.CacheMode}' must be 'writeback' or 'unsafe'", nameof(options));
        if (options.BlockSize is not null && options.BlockSize is not (512 or 4096))
            throw new ArgumentException($"block size {options.BlockSize} must be 512 or 4096", nameof(options));
        if (options.Discard && options.ReadOnly)
            throw new ArgumentException("discard needs a writable drive (ReadOnly = false): a read-only drive goes through a throw-away overlay, so trimming it frees nothing", nameof(options));
        lock (_stateLock)
        {
            if (_drives.Count >= 255)
                throw new InvalidOperationException("a session can hold at most 255 drives");
            if (options.Label is not null && _drives.Any(d => d.Options.Label == options.Label))
                throw new ArgumentException($"label '{options.Label}' is already used by another drive of this session", nameof(options));
            var d = new Drive(_drives.Count, source.Display, options) { Source = source };
            _drives.Add(d);
            return d;
        }
    }

    private void RequireConfig(string what)
    {
        var s = State;
        if (s == GuestSessionState.Closed) throw new ObjectDisposedException(nameof(GuestSession), $"{what}: the session is closed");
        if (s != GuestSessionState.Config)
            throw new GuestFsStateException($"{what}: this can only be done before launch (the session is {s})");
    }

    private void SetState(GuestSessionState next, string? reason = null)
    {
        GuestSessionState old;
        lock (_stateLock)
        {
            old = _state;
            if (old == next) return;
            if (old == GuestSessionState.Closed) return;
            _state = next;
        }
        Say(MessageLevel.Debug, $"state {old} -> {next}{(reason is null ? "" : ": " + reason)}");
        try { StateChanged?.Invoke(this, new StateChangedEventArgs(old, next, reason)); } catch { }
    }

    internal void Say(MessageLevel level, string text)
    {
        try { Message?.Invoke(this, new GuestMessageEventArgs(level, text)); } catch { }
    }

    private void Trace(string text)
    {
        if (!Options.Trace) return;
        try { TraceMessage?.Invoke(this, text); } catch { }
    }

    private void ReportLaunch(LaunchStage stage, string text, Stopwatch sw)
    {
        Say(MessageLevel.Verbose, $"launch [{sw.Elapsed.TotalSeconds,6:0.00}s] {text}");
        try { LaunchProgress?.Invoke(this, new LaunchProgressEventArgs(stage, text, sw.Elapsed)); } catch { }
    }

    // ------------------------------------------------------------ launch

    public void Launch() => LaunchAsync().GetAwaiter().GetResult();

    /// <summary>
    /// Boots the appliance and waits for the daemon. On any failure or
    /// cancellation qemu is killed, the temp dir removed, and the session is
    /// back in CONFIG with its drives, so it can be launched again.
    /// </summary>
    public async Task LaunchAsync(CancellationToken cancellationToken = default)
    {
        lock (_stateLock)
        {
            if (_state == GuestSessionState.Closed) throw new ObjectDisposedException(nameof(GuestSession));
            if (_state != GuestSessionState.Config)
                throw new GuestFsStateException($"launch: the session is already {_state}; close it and open a new one");
            if (_drives.Count == 0)
                throw new GuestFsStateException("launch: add at least one drive before launching (Open-GuestDisk -Path IMAGE)");
            _state = GuestSessionState.Launching;
        }
        try { StateChanged?.Invoke(this, new StateChangedEventArgs(GuestSessionState.Config, GuestSessionState.Launching, null)); } catch { }

        var sw = Stopwatch.StartNew();
        var timings = new Dictionary<string, TimeSpan>();
        try
        {
            ReportLaunch(LaunchStage.Preparing, "preparing", sw);
            string qemu = Options.QemuPath ?? ExternalCommand.Find("qemu-system-x86_64")
                ?? throw new MissingDependencyException("The program 'qemu-system-x86_64'", "qemu-system-x86");
            if (!System.IO.File.Exists(qemu))
                throw new MissingDependencyException($"The qemu binary '{qemu}' (LIBGUESTFS_HV)", "qemu-system-x86");

            _tempDir = CreatePrivateTempDir(Options.ResolveTempParent());
            Say(MessageLevel.Debug, $"private temp dir {_tempDir}");

            ReportLaunch(LaunchStage.BuildingAppliance, "locating the appliance", sw);
            var t0 = sw.Elapsed;
            var appliance = await ApplianceLocator.LocateAsync(Options.AppliancePath, Options.CacheDirectory, Options.Debug,
                m => Say(MessageLevel.Verbose, m), cancellationToken).ConfigureAwait(false);
            Appliance = appliance;
            timings["appliance"] = sw.Elapsed - t0;

            ReportLaunch(LaunchStage.ProbingAccelerator, "choosing the accelerator", sw);
            t0 = sw.Elapsed;
            string cacheDir = ApplianceLocator.CacheDirectory(Options.CacheDirectory);
            var accel = await AcceleratorProbe.ChooseAsync(Options.Accelerator, qemu, appliance.Kernel, cacheDir,
                m => Say(MessageLevel.Verbose, m), cancellationToken).ConfigureAwait(false);
            AcceleratorInUse = accel.UseKvm ? AcceleratorKind.Kvm : AcceleratorKind.Tcg;
            AcceleratorReason = accel.Reason;
            Say(MessageLevel.Verbose, $"accelerator: {AcceleratorInUse} ({accel.Reason})");
            timings["accelerator"] = sw.Elapsed - t0;

            var drives = await PrepareDrivesAsync(cancellationToken).ConfigureAwait(false);
            string qemuImg = ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
            var request = new LaunchRequest
            {
                Qemu = qemu,
                QemuImg = qemuImg,
                Plan = CreatePlan(Options, appliance, accel.UseKvm, drives, Path.Combine(_tempDir, "guestfsd.sock")),
                TempDir = _tempDir,
                CacheDir = cacheDir,
                LaunchTimeout = Options.LaunchTimeout,
                Clock = sw,
                Timings = timings,
            };

            // Warm first (unless asked not to), cold when the warm launcher cannot.
            LaunchMode = null;
            WarmFallbackReason = null;
            string? coldReason = Options.ColdStart ? "cold start requested (-ColdStart or GUESTFS_COLD_START)"
                : Options.Network ? "network requested (-Network): the saved appliance has no network card, so it boots cold" : null;
            if (coldReason is null) coldReason = WarmUnsupportedReason(drives);
            LaunchedAppliance? launched = null;
            var host = new Host(this, sw);
            if (coldReason is null)
            {
                // Drives plugged together probe in parallel (fast); when the guest names them
                // out of order, a fresh restore attaches them one at a time before giving up
                // on warm and booting cold.
                foreach (bool oneAtATime in new[] { false, true })
                {
                    try
                    {
                        launched = await new WarmLauncher { OneAtATime = oneAtATime }.LaunchAsync(request, host, cancellationToken).ConfigureAwait(false);
                        LaunchMode = "warm";
                        break;
                    }
                    catch (DiskOrderException e) when (!oneAtATime && !cancellationToken.IsCancellationRequested)
                    {
                        Say(MessageLevel.Verbose, "warm: " + OneLine(e.Message) + "; restoring again and attaching the disks one at a time");
                        ForgetQemu();
                    }
                    catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested) && e is not DriveInUseException)
                    {
                        coldReason = "warm relaunch failed, booting cold: " + OneLine(e.Message);
                        ForgetQemu();
                        break;
                    }
                }
            }
            if (launched is null)
            {
                WarmFallbackReason = coldReason;
                Say(MessageLevel.Verbose, coldReason!);
                launched = await new ColdLauncher().LaunchAsync(request, host, cancellationToken).ConfigureAwait(false);
                LaunchMode = "cold";
            }
            _qemu = launched.Qemu;
            _channel = launched.Channel;
            _channel.Progress += OnDaemonProgress;
            FinishLaunch(sw, timings);
        }
        catch (Exception e)
        {
            string tail = _qemu?.ConsoleTail ?? "";
            await TearDownAsync(graceful: false).ConfigureAwait(false);
            SetState(GuestSessionState.Config, "launch failed");
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
                throw new OperationCanceledException("launch cancelled; qemu was stopped and its temp files removed", e, cancellationToken);
            if (e is GuestFsLaunchException || e is DriveInUseException) throw;
            if (e is MissingDependencyException or ArgumentException or UnauthorizedAccessException or FileNotFoundException or DriveSourceException) throw;
            throw new GuestFsLaunchException($"launch failed: {e.Message}", tail, e);
        }
    }

    /// <summary>Why the warm launcher cannot take these drives (the launch goes cold), or null.</summary>
    private static string? WarmUnsupportedReason(IReadOnlyList<QemuDrive> drives) => null;

    /// <summary>The session's side of the launcher contract: progress, messages, and owning qemu.</summary>
    private sealed class Host : ILaunchHost
    {
        private readonly GuestSession _s;
        private readonly Stopwatch _sw;
        public Host(GuestSession s, Stopwatch sw) { _s = s; _sw = sw; }
        public void Report(LaunchStage stage, string text) => _s.ReportLaunch(stage, text, _sw);
        public void Say(MessageLevel level, string text) => _s.Say(level, text);
        public void OnConsole(string text) => _s.OnConsole(text);
        public void Started(QemuProcess qemu) => _s._qemu = qemu;
        public IReadOnlyList<string> DriveNames => _s.Drives.Select(d => d.Path).ToList();
    }

    /// <summary>A launcher that failed stopped its qemu; keep its console tail and drop it.</summary>
    private void ForgetQemu()
    {
        var q = _qemu; _qemu = null;
        if (q is null) return;
        _lastConsoleTail = q.ConsoleTail;
        q.Dispose();
    }

    private static QemuLaunchPlan CreatePlan(GuestSessionOptions o, ApplianceFiles appliance, bool useKvm, IReadOnlyList<QemuDrive> drives, string socketPath) => new()
    {
        Appliance = appliance,
        SocketPath = socketPath,
        Drives = drives,
        MemoryMB = o.MemoryMB,
        Smp = o.Smp,
        UseKvm = useKvm,
        Verbose = o.Debug,
        Append = o.Append,
        Network = o.Network,
        LoopsPerJiffy = useKvm ? null : LoopsPerJiffy.Get(),
    };

    /// <summary>
    /// Makes sure the saved appliance for these options exists (booting and saving
    /// it if needed), so the next launch is warm; returns its directory. Used by
    /// build.ps1 -Task Bootstrap. Throws if it cannot be saved.
    /// </summary>
    public static async Task<string> PrepareSavedApplianceAsync(GuestSessionOptions? options = null, Action<string>? say = null,
        CancellationToken cancellationToken = default)
    {
        var o = options ?? GuestSessionOptions.FromEnvironment();
        say ??= _ => { };
        string qemu = o.QemuPath ?? ExternalCommand.Find("qemu-system-x86_64")
            ?? throw new MissingDependencyException("The program 'qemu-system-x86_64'", "qemu-system-x86");
        string qemuImg = ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
        var appliance = await ApplianceLocator.LocateAsync(o.AppliancePath, o.CacheDirectory, o.Debug, say, cancellationToken).ConfigureAwait(false);
        string cacheDir = ApplianceLocator.CacheDirectory(o.CacheDirectory);
        var accel = await AcceleratorProbe.ChooseAsync(o.Accelerator, qemu, appliance.Kernel, cacheDir, say, cancellationToken).ConfigureAwait(false);
        var plan = CreatePlan(o with { Network = false }, appliance, accel.UseKvm, Array.Empty<QemuDrive>(), "@daemon");
        var image = await WarmAppliance.EnsureAsync(plan, qemu, qemuImg, cacheDir, o.LaunchTimeout, say, cancellationToken).ConfigureAwait(false);
        return image.Directory;
    }

    public static string PrepareSavedAppliance() => PrepareSavedApplianceAsync().GetAwaiter().GetResult();

    private void FinishLaunch(Stopwatch sw, Dictionary<string, TimeSpan> timings)
    {
        LaunchedAt = DateTime.Now;
        LastLaunch = new LaunchTimings
        {
            Mode = LaunchMode ?? "cold",
            Appliance = timings.GetValueOrDefault("appliance"),
            AcceleratorProbe = timings.GetValueOrDefault("accelerator"),
            QemuStart = timings.GetValueOrDefault("qemu-start"),
            Boot = timings.GetValueOrDefault("boot"),
            Total = sw.Elapsed,
            Extra = timings,
        };
        SetState(GuestSessionState.Ready, LaunchMode == "warm" ? "saved appliance restored" : "launch flag received");
        _ = MonitorQemuAsync(_qemu!);
        ReportLaunch(LaunchStage.Ready, $"appliance ready in {sw.Elapsed.TotalSeconds:0.00} s ({LaunchMode})", sw);
    }

    private static string OneLine(string s) => s.Replace("\r", "").Replace('\n', ' ').Trim();

    /// <summary>How the last launch got its appliance: "warm" (restored saved appliance) or "cold" (booted).</summary>
    public string? LaunchMode { get; private set; }

    /// <summary>Why the last launch booted cold instead of restoring the saved appliance, or null.</summary>
    public string? WarmFallbackReason { get; private set; }

    /// <summary>Deadline for restore + first reply + hot-plug, after the saved image exists.</summary>
    internal static TimeSpan WarmDeadline { get => WarmLauncher.Deadline; set => WarmLauncher.Deadline = value; }

    private void OnConsole(string text)
    {
        try { ApplianceLog?.Invoke(this, text); } catch { }
    }

    private readonly ConcurrentDictionary<int, string> _procNames = new();

    private void OnDaemonProgress(ProgressMessage m)
    {
        string name = _procNames.TryGetValue(m.Procedure, out var n) ? n : m.Procedure.ToString();
        try { Progress?.Invoke(this, new GuestProgressEventArgs(m.Procedure, name, m.Serial, m.Position, m.Total)); } catch { }
    }

    private async Task MonitorQemuAsync(QemuProcess q)
    {
        try { await q.Exited.ConfigureAwait(false); } catch { }
        if (!ReferenceEquals(q, _qemu) || _shuttingDown) return;
        string reason = $"qemu (pid {q.Pid}) exited unexpectedly with status {q.ExitCode}";
        Say(MessageLevel.Warning, reason);
        _channel?.Break("", reason);
        // A call in progress sees EOF and tears down; an idle session does it here.
        if (await _callLock.WaitAsync(0).ConfigureAwait(false))
        {
            try { await HandleDeathAsync(reason).ConfigureAwait(false); }
            finally { _callLock.Release(); }
        }
    }

    private async Task HandleDeathAsync(string reason)
    {
        if (State is GuestSessionState.Config or GuestSessionState.Closed) return;
        await TearDownAsync(graceful: false).ConfigureAwait(false);
        SetState(GuestSessionState.Config, reason);
        try { SubprocessQuit?.Invoke(this, reason); } catch { }
    }

    private static string CreatePrivateTempDir(string parent)
    {
        if (!Directory.Exists(parent))
            throw new DirectoryNotFoundException($"the temporary directory '{parent}' (LIBGUESTFS_TMPDIR/TMPDIR) does not exist; create it or unset the variable");
        for (int attempt = 0; attempt < 100; attempt++)
        {
            string dir = Path.Combine(parent, "guestfs-" + Path.GetRandomFileName().Replace(".", ""));
            try
            {
                // mkdir with mode 0700: nobody else can reach the socket or overlays.
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                if (Directory.GetFileSystemEntries(dir).Length != 0) continue;
                System.IO.File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                return dir;
            }
            catch (IOException) { }
        }
        throw new IOException($"could not create a private temporary directory under {parent}");
    }

    /// <summary>
    /// Turns each drive into what qemu opens: the source itself when writable, or
    /// a private qcow2 overlay over it when read-only (so a read-only session never
    /// writes to the image or the server). Secrets go to 0600 files in the temp dir.
    /// </summary>
    private async Task<List<QemuDrive>> PrepareDrivesAsync(CancellationToken ct)
    {
        var result = new List<QemuDrive>();
        string? qemuImg = null;
        foreach (var d in Drives)
        {
            var src = d.Source;
            if (src is CurlDriveSource curl) src = await BridgeAsync(d, curl, ct).ConfigureAwait(false);
            (string Id, string File)? secret = null;
            if (src.Secret is not null)
            {
                string file = Path.Combine(_tempDir!, $"secret{d.Index}");
                using (var fs = new FileStream(file, new FileStreamOptions
                {
                    Mode = FileMode.Create, Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                }))
                {
                    var bytes = System.Text.Encoding.UTF8.GetBytes(src.Secret);
                    fs.Write(bytes, 0, bytes.Length);
                }
                secret = ($"sec{d.Index}", file);
            }
            var objects = secret is { } sc ? new[] { $"secret,id={sc.Id},file={QemuCommandLine.Escape(sc.File)},format=raw" } : Array.Empty<string>();
            string? format = d.Options.Format;
            bool device = src is FileDriveSource { IsDevice: true };
            if (format is null || (format == "raw" && !device))
            {
                // Opening a qcow2 (or other container) as raw would show its metadata as
                // the disk, and writing would destroy the image: refuse a raw that is not.
                // Without -Format, name the detected format explicitly: qemu's own probing
                // warns, and for raw images it refuses writes to block 0.
                string detected = await DiskImage.DetectFormatAsync(src, objects, ct).ConfigureAwait(false);
                if (format == "raw" && detected != "raw")
                    throw new ArgumentException($"The disk image '{d.Path}' is a {detected} image, not raw; use -Format {detected}, or leave -Format out to detect it");
                format ??= detected;
            }
            var o = d.Options;
            if (!o.ReadOnly)
            {
                result.Add(new QemuDrive(d.Index, src, format, false, o.CacheMode ?? "writeback", o.Label)
                    { Discard = o.Discard, CopyOnRead = o.CopyOnRead, BlockSize = o.BlockSize, Secret = secret });
                continue;
            }
            qemuImg ??= ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");
            string overlay = Path.Combine(_tempDir!, $"overlay{d.Index}.qcow2");
            try
            {
                await LaunchSupport.CreateOverlayAsync(qemuImg, src.QemuImgName(secret?.Id), format, overlay, objects,
                    $"'{d.Path}'", ct, TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            }
            catch (IOException e) when (src.IsLocal)
            {
                throw new InvalidOperationException(e.Message + ". Check that the image is not corrupt and that -Format matches it.", e);
            }
            catch (IOException e)
            {
                throw new DriveSourceException(src, $"could not open {src.Display} read-only: {OneLine(e.Message)}", e);
            }
            // The overlay's header names the source (a json: name for a remote one); qemu
            // opens it read-only as the overlay's backing and writes only to the overlay.
            result.Add(new QemuDrive(d.Index, DriveSource.File(overlay), "qcow2", true, "unsafe", o.Label)
                { Discard = o.Discard, CopyOnRead = o.CopyOnRead, BlockSize = o.BlockSize, Secret = secret });
        }
        return result;
    }

    /// <summary>
    /// Serves an http(s)/ftp(s) drive to qemu over an NBD unix socket in the private temp dir,
    /// read by GuestFs itself (see <see cref="CurlDriveSource"/> for why not qemu's curl
    /// driver). The server is probed here, so a wrong URL, certificate or password fails
    /// before the appliance starts. The bridge lives until the appliance is torn down.
    /// </summary>
    private async Task<DriveSource> BridgeAsync(Drive d, CurlDriveSource curl, CancellationToken ct)
    {
        var file = await Remote.RemoteFile.OpenAsync(curl, ct).ConfigureAwait(false);
        string socket = Path.Combine(_tempDir!, $"remote{d.Index}.sock");
        Remote.NbdExportServer server;
        try { server = Remote.NbdExportServer.Start(file, socket, m => Say(MessageLevel.Verbose, m)); }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        lock (_bridges) _bridges.Add(server);
        Say(MessageLevel.Verbose, $"{curl.Display}: {file.Length} bytes; GuestFs reads it and serves it to qemu over NBD ({socket})");
        return new NbdDriveSource(null, socket, null) { ShownAs = curl.Display };
    }

    private void StopBridges()
    {
        Remote.NbdExportServer[] all;
        lock (_bridges) { all = _bridges.ToArray(); _bridges.Clear(); }
        foreach (var b in all)
        {
            try { b.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5)); }
            catch (Exception e) { Say(MessageLevel.Debug, $"stopping the NBD bridge {b.SocketPath}: {e.Message}"); }
        }
    }

    // ------------------------------------------------------------ calls

    /// <summary>
    /// Makes one daemon call. Throws <see cref="GuestFsException"/> for a daemon
    /// error (the session stays usable), <see cref="GuestFsProtocolException"/>
    /// when the appliance died or the conversation broke (the session is back in
    /// CONFIG), <see cref="OperationCanceledException"/> when cancelled.
    /// Cancelling a plain call returns at once; its reply is still read in the
    /// background before the next call runs, so the session stays in step.
    /// </summary>
    public Task<T> InvokeAsync<T>(RpcRequest request, ReplyDecoder<T> decoder, FileTransfer? transfer = null,
        CancellationToken cancellationToken = default) =>
        InvokeCoreAsync(request, decoder, transfer, async: true, cancellationToken);

    /// <summary>
    /// The same call for a caller that waits for it anyway (the generated blocking twins:
    /// Mount, Statns …). The choice travels as an explicit <c>async: false</c> down to the
    /// channel: a plain call then reads its reply with blocking socket reads on this thread,
    /// instead of an asynchronous read whose completion hops through the thread pool back to
    /// the waiting thread. That saves two thread switches per round trip, which is most of the
    /// host-side cost of a small call on a busy 2-core machine. Transfers stay asynchronous.
    /// </summary>
    public T Invoke<T>(RpcRequest request, ReplyDecoder<T> decoder, FileTransfer? transfer = null) =>
        InvokeCoreAsync(request, decoder, transfer, async: false, CancellationToken.None).GetAwaiter().GetResult();

    private async Task<T> InvokeCoreAsync<T>(RpcRequest request, ReplyDecoder<T> decoder, FileTransfer? transfer,
        bool async, CancellationToken cancellationToken)
    {
        bool blocking = !async && transfer is null && !cancellationToken.CanBeCanceled;
        RequireReady(request.Name);
        await _callLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        bool release = true;
        try
        {
            RequireReady(request.Name);
            var channel = _channel!;
            _procNames.TryAdd(request.Procedure, request.Name);
            Interlocked.Increment(ref _callCount);
            NoteCall(request.Name);
            Trace(request.Name);
            var call = channel.CallAsync(request, decoder, transfer, cancellationToken, async: !blocking);
            T result;
            if (transfer is null && cancellationToken.CanBeCanceled)
            {
                try
                {
                    result = await call.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!call.IsCompleted)
                {
                    release = false;
                    _abandonedCall = request.Name;
                    _ = DrainAbandonedAsync(call, request.Name);
                    throw new OperationCanceledException($"{request.Name}: cancelled; the daemon finishes the call in the background", cancellationToken);
                }
            }
            else
            {
                result = await call.ConfigureAwait(false);
            }
            Trace($"{request.Name} = {Describe(result)}");
            return result;
        }
        catch (GuestFsProtocolException e)
        {
            Trace($"{request.Name} = error (appliance lost: {e.DaemonMessage})");
            await HandleDeathAsync(e.DaemonMessage).ConfigureAwait(false);
            throw;
        }
        catch (GuestFsException e)
        {
            Trace($"{request.Name} = error {e.ErrnoName} {e.DaemonMessage}");
            throw;
        }
        finally
        {
            if (release) _callLock.Release();
        }
    }

    /// <summary>
    /// Many independent plain calls pipelined on the one connection (see
    /// <see cref="DaemonChannel.CallBatchAsync{T}"/>): results in request order, each with
    /// its value or its own daemon error. The session's call lock is held for the whole
    /// batch, so other callers still see one call at a time. Cancelling stops sending and
    /// reads the replies already due before it throws, so the session stays usable.
    /// </summary>
    public async Task<BatchReply<T>[]> InvokeBatchAsync<T>(IReadOnlyList<RpcRequest> requests, ReplyDecoder<T> decoder,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0) return Array.Empty<BatchReply<T>>();
        string name = requests[0].Name;
        RequireReady(name);
        await _callLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            RequireReady(name);
            foreach (var r in requests) _procNames.TryAdd(r.Procedure, r.Name);
            Interlocked.Add(ref _callCount, requests.Count);
            NoteCall(name);
            Trace($"{name} ×{requests.Count} (pipelined)");
            var results = await _channel!.CallBatchAsync(requests, decoder, cancellationToken).ConfigureAwait(false);
            Trace($"{name} ×{requests.Count} = {results.Count(x => x.Ok)} ok, {results.Count(x => !x.Ok)} errors");
            return results;
        }
        catch (GuestFsProtocolException e)
        {
            Trace($"{name} = error (appliance lost: {e.DaemonMessage})");
            await HandleDeathAsync(e.DaemonMessage).ConfigureAwait(false);
            throw;
        }
        finally
        {
            _callLock.Release();
        }
    }

    /// <summary>A daemon call with no return value.</summary>
    public Task InvokeAsync(RpcRequest request, FileTransfer? transfer = null, CancellationToken cancellationToken = default) =>
        InvokeAsync(request, XdrDecoders.Void, transfer, cancellationToken);

    private async Task DrainAbandonedAsync<T>(Task<T> call, string name)
    {
        try
        {
            await call.ConfigureAwait(false);
        }
        catch (GuestFsProtocolException e)
        {
            await HandleDeathAsync(e.DaemonMessage).ConfigureAwait(false);
        }
        catch (Exception) { /* the caller already got its cancellation */ }
        finally
        {
            Say(MessageLevel.Debug, $"{name}: abandoned reply drained");
            _abandonedCall = null;
            _callLock.Release();
        }
    }

    /// <summary>A cancelled plain call the daemon is still running (its reply not yet drained), or null.</summary>
    private volatile string? _abandonedCall;

    /// <summary>Waits up to <paramref name="limit"/> for an abandoned call's reply to be drained.</summary>
    private async Task<bool> WaitForDrainAsync(TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (_abandonedCall is not null)
        {
            if (sw.Elapsed >= limit) return false;
            await Task.Delay(100).ConfigureAwait(false);
        }
        return true;
    }

    private static string Describe(object? o) => o switch
    {
        null or XdrDecoders.Unit => "ok",
        string s => "\"" + (s.Length > 80 ? s.Substring(0, 80) + "…" : s) + "\"",
        string[] a => "[" + string.Join(", ", a.Take(8).Select(x => "\"" + x + "\"")) + (a.Length > 8 ? $", … ({a.Length})" : "") + "]",
        byte[] b => $"<{b.Length} bytes>",
        System.Collections.ICollection c => $"<{c.Count} items>",
        _ => o.ToString() ?? "",
    };

    private void RequireReady(string name)
    {
        var s = State;
        if (s == GuestSessionState.Ready) return;
        if (s == GuestSessionState.Closed)
            throw new ObjectDisposedException(nameof(GuestSession), $"{name}: the session is closed; open a new one (Open-GuestDisk)");
        throw new GuestFsStateException($"{name}: the appliance is not running (session state {s}); launch it first" +
            (s == GuestSessionState.Config && LastLaunch is not null ? " — it stopped earlier, see the session's ConsoleTail" : ""));
    }

    // ------------------------------------------------------------ shutdown

    private volatile bool _shuttingDown;

    public void Shutdown() => ShutdownAsync().GetAwaiter().GetResult();

    /// <summary>
    /// Syncs the disks (the daemon unmounts everything and flushes), stops qemu
    /// (SIGTERM, then SIGKILL), removes the temp dir. The session returns to
    /// CONFIG with its drives and can be launched again.
    /// </summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        if (State != GuestSessionState.Ready && State != GuestSessionState.Launching)
        {
            await TearDownAsync(graceful: false).ConfigureAwait(false);
            return;
        }
        Exception? syncError = null;
        // A cancelled call still running in the daemon (a guest command, say) keeps it from
        // reading anything else until it ends. It gets a few seconds; after that nothing can
        // be synced in time, and the appliance is stopped at once. What the cancelled call had
        // half done is the filesystems' own journals' to recover, as after any stop.
        if (_abandonedCall is { } running && !await WaitForDrainAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false))
        {
            Say(MessageLevel.Warning, $"the cancelled call {running} was still running in the appliance; it was stopped without syncing the disks");
            await TearDownAsync(graceful: false).ConfigureAwait(false);
            SetState(GuestSessionState.Config, "stopped during a cancelled call");
            return;
        }
        bool locked = await _callLock.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        try
        {
            if (State == GuestSessionState.Ready && _channel is { IsBroken: false } && _abandonedCall is null)
            {
                try
                {
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    cts.CancelAfter(TimeSpan.FromSeconds(60));
                    await _channel.CallAsync(LaunchSupport.Request("internal_autosync"), XdrDecoders.Void).WaitAsync(cts.Token).ConfigureAwait(false);
                    Say(MessageLevel.Verbose, "disks synced (filesystems unmounted)");
                }
                catch (Exception e)
                {
                    syncError = e;
                    Say(MessageLevel.Warning, $"sync before shutdown failed: {e.Message}");
                }
            }
            await TearDownAsync(graceful: true).ConfigureAwait(false);
            SetState(GuestSessionState.Config, "shut down");
        }
        finally
        {
            if (locked) _callLock.Release();
        }
        if (syncError is GuestFsException ge)
            throw new GuestFsException("shutdown", ge.ErrnoName, "syncing the disks failed: " + ge.DaemonMessage, ge);
    }

    private async Task TearDownAsync(bool graceful)
    {
        _shuttingDown = true;
        try
        {
            var ch = _channel; _channel = null;
            ch?.Dispose();
            var q = _qemu;
            if (q is not null)
            {
                _lastConsoleTail = q.ConsoleTail;
                if (graceful) await q.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                else
                {
                    q.Kill();
                    await Task.WhenAny(q.Exited, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
                }
                q.Dispose();
                _qemu = null;
            }
            StopBridges();
            RemoveTempDir();
        }
        finally
        {
            _shuttingDown = false;
        }
    }

    private void RemoveTempDir()
    {
        var dir = _tempDir;
        _tempDir = null;
        if (dir is null) return;
        try { Directory.Delete(dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
        catch (Exception e) { Say(MessageLevel.Warning, $"could not remove the temp dir {dir}: {e.Message}"); }
    }

    /// <summary>Last-resort synchronous cleanup (process exit).</summary>
    private void KillNow(string reason)
    {
        _shuttingDown = true;
        try { _qemu?.Kill(); } catch { }
        try { _qemu?.Dispose(); } catch { }
        _qemu = null;
        StopBridges();
        RemoveTempDir();
    }

    /// <summary>
    /// Test hook: talk to a daemon over <paramref name="daemon"/> (for example an
    /// in-process fake) as if an appliance had launched and sent its flag.
    /// </summary>
    internal void AttachForTesting(System.IO.Stream daemon)
    {
        RequireConfig("attach");
        _channel = new DaemonChannel(daemon);
        _channel.Progress += OnDaemonProgress;
        SetState(GuestSessionState.Ready, "attached for testing");
    }

    /// <summary>Kills qemu without syncing (used by tests and for fault injection).</summary>
    public void KillSubprocessForTesting()
    {
        var q = _qemu;
        if (q is not null) NativeMethods.Kill(q.Pid, NativeMethods.SIGKILL);
    }

    public async ValueTask DisposeAsync()
    {
        if (State == GuestSessionState.Closed) return;
        try { await ShutdownAsync().ConfigureAwait(false); }
        catch (Exception e) { Say(MessageLevel.Warning, $"close: {e.Message}"); }
        finally
        {
            await TearDownAsync(graceful: false).ConfigureAwait(false);
            lock (_stateLock) { _state = GuestSessionState.Closed; }
            s_live.TryRemove(Id, out _);
            try { StateChanged?.Invoke(this, new StateChangedEventArgs(GuestSessionState.Config, GuestSessionState.Closed, "closed")); } catch { }
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>A disk image is locked by another writer (qemu's image locking).</summary>
public sealed class DriveInUseException : IOException
{
    public DriveInUseException(string message) : base(message) { }
}

/// <summary>The appliance could not be started. <see cref="ConsoleTail"/> holds the end of its console.</summary>
public sealed class GuestFsLaunchException : Exception
{
    public GuestFsLaunchException(string message, string consoleTail, Exception? inner = null)
        : base(message + (string.IsNullOrWhiteSpace(consoleTail) ? "" : "\n--- last appliance console output ---\n" + LastLines(consoleTail, 25)), inner)
    {
        ConsoleTail = consoleTail;
    }

    public string ConsoleTail { get; }

    private static string LastLines(string s, int n)
    {
        var lines = s.Replace("\r", "").TrimEnd().Split('\n');
        return string.Join("\n", lines.Skip(Math.Max(0, lines.Length - n)));
    }
}
