using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace GuestFs.Engine.Launch;

/// <summary>
/// A running qemu. It is started through <c>setsid</c> so it lives in its own
/// session and process group: Ctrl+C in the terminal reaches the cmdlet, never
/// qemu. stdin is a pipe (qemu would otherwise switch a terminal to raw mode);
/// stdout and stderr are the appliance console, delivered as text chunks and
/// kept as a tail for error messages.
/// </summary>
internal sealed class QemuProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _tail = new();
    private readonly object _tailLock = new();
    private readonly Action<string>? _onConsole;
    private readonly Task _stdoutPump, _stderrPump;
    private const int TailMax = 16 * 1024;
    private int _reaped;

    private QemuProcess(Process process, Action<string>? onConsole)
    {
        _process = process;
        _onConsole = onConsole;
        Pid = process.Id;
        _stdoutPump = PumpAsync(process.StandardOutput.BaseStream);
        _stderrPump = PumpAsync(process.StandardError.BaseStream);
        Exited = process.WaitForExitAsync();
    }

    public int Pid { get; }

    /// <summary>Completes when qemu has exited.</summary>
    public Task Exited { get; }

    public bool HasExited
    {
        get { try { return _process.HasExited; } catch (InvalidOperationException) { return true; } }
    }

    public int? ExitCode
    {
        get { try { return _process.HasExited ? _process.ExitCode : null; } catch (InvalidOperationException) { return null; } }
    }

    /// <summary>Raised whenever console text arrives, with everything seen so far in <see cref="ConsoleTail"/>.</summary>
    public event Action<string>? ConsoleText;

    public string ConsoleTail
    {
        get { lock (_tailLock) return _tail.ToString(); }
    }

    /// <param name="cleanupDirectory">A private temp dir the watchdog removes if this process dies.</param>
    public static QemuProcess Start(string qemu, IReadOnlyList<string> args, Action<string>? onConsole,
        IDictionary<string, string>? environment = null, string? cleanupDirectory = null, string? workingDirectory = null)
    {
        // setsid keeps qemu out of the terminal's process group. It execs qemu in
        // place (our child is never a group leader), so the pid is qemu's own.
        string? setsid = ExternalCommand.Find("setsid");
        var psi = new ProcessStartInfo(setsid ?? qemu)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        if (setsid is not null) psi.ArgumentList.Add(qemu);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["QEMU_AUDIO_DRV"] = "none";
        if (environment is not null)
            foreach (var kv in environment) psi.Environment[kv.Key] = kv.Value;
        var p = new Process { StartInfo = psi };
        try
        {
            p.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            p.Dispose();
            throw new Appliance.MissingDependencyException($"The qemu binary '{qemu}' could not be started ({e.Message})", "qemu-system-x86");
        }
        var q = new QemuProcess(p, onConsole);
        q.StartRecoveryWatchdog(cleanupDirectory);
        return q;
    }

    private Process? _watchdog;

    /// <summary>
    /// libguestfs's "recovery process": a tiny sh loop (given only two pids,
    /// never user text) that SIGKILLs qemu if this host process dies without
    /// closing it, for example while the appliance is still booting. It exits
    /// on its own as soon as qemu is gone.
    /// </summary>
    private void StartRecoveryWatchdog(string? cleanupDirectory)
    {
        string? sh = ExternalCommand.Find("sh");
        if (sh is null) return;
        var psi = new ProcessStartInfo(ExternalCommand.Find("setsid") ?? sh)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (psi.FileName != sh) psi.ArgumentList.Add(sh);
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 1; done; " +
            "if ! kill -0 \"$1\" 2>/dev/null; then kill -9 \"$2\" 2>/dev/null; [ -n \"$3\" ] && rm -rf -- \"$3\"; fi; exit 0");
        psi.ArgumentList.Add("guestfs-recovery");
        psi.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(cleanupDirectory ?? "");
        try { _watchdog = Process.Start(psi); }
        catch (Exception) { _watchdog = null; }
    }

    private async Task PumpAsync(Stream s)
    {
        var buf = new byte[4096];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buf.Length)];
        try
        {
            while (true)
            {
                int n = await s.ReadAsync(buf).ConfigureAwait(false);
                if (n == 0) break;
                int c = decoder.GetChars(buf, 0, n, chars, 0);
                if (c == 0) continue;
                string text = new string(chars, 0, c);
                lock (_tailLock)
                {
                    _tail.Append(text);
                    if (_tail.Length > TailMax) _tail.Remove(0, _tail.Length - TailMax);
                }
                try { _onConsole?.Invoke(text); } catch { }
                try { ConsoleText?.Invoke(text); } catch { }
            }
        }
        catch (Exception)
        {
            // The pipe closes when qemu exits; nothing else to do.
        }
    }

    /// <summary>Waits until the console has shown <paramref name="marker"/>, qemu exited, or the time ran out.</summary>
    public async Task<bool> WaitForConsoleAsync(string marker, TimeSpan timeout, CancellationToken ct)
    {
        var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(string _) { if (ConsoleTail.Contains(marker, StringComparison.Ordinal)) tcs.TrySetResult(true); }
        ConsoleText += Check;
        try
        {
            Check("");
            var delay = Task.Delay(timeout, ct);
            var done = await Task.WhenAny(tcs.Task, Exited, delay).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            return done == tcs.Task || ConsoleTail.Contains(marker, StringComparison.Ordinal);
        }
        finally { ConsoleText -= Check; }
    }

    /// <summary>SIGTERM, wait up to <paramref name="grace"/>, then SIGKILL; always reaps.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!HasExited)
        {
            NativeMethods.Kill(Pid, NativeMethods.SIGTERM);
            var done = await Task.WhenAny(Exited, Task.Delay(grace)).ConfigureAwait(false);
            if (done != Exited && !HasExited)
            {
                Kill();
                await Task.WhenAny(Exited, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
            }
        }
        await ReapAsync().ConfigureAwait(false);
    }

    /// <summary>SIGKILL at once (used on failure paths).</summary>
    public void Kill()
    {
        if (HasExited) return;
        try { _process.Kill(); } catch { }
    }

    private async Task ReapAsync()
    {
        if (Interlocked.Exchange(ref _reaped, 1) == 1) return;
        try { await Exited.ConfigureAwait(false); } catch { }
        try { await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); } catch { }
    }

    public void Dispose()
    {
        Kill();
        try
        {
            if (_watchdog is { } w)
            {
                if (!w.HasExited) w.Kill();
                w.WaitForExit(2000);
                w.Dispose();
            }
        }
        catch (Exception) { }
        try { _process.WaitForExit(5000); } catch { }
        try { _process.StandardInput.Dispose(); } catch { }
        _process.Dispose();
    }
}
