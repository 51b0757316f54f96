using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Launch;

/// <summary>Outcome of choosing an accelerator.</summary>
internal sealed record AcceleratorChoice(bool UseKvm, string Reason, TimeSpan ProbeTime)
{
    /// <summary>What the probe saw (for example qemu's own error), without the conclusion.</summary>
    public string Detail { get; init; } = "";
}

/// <summary>
/// Decides between KVM and TCG. /dev/kvm can exist and still be unusable
/// (qemu aborts on an MSR, or the guest hangs before the kernel prints its
/// banner), so in Auto mode a tiny boot of the appliance kernel with KVM must
/// print "Linux version" within a short deadline. A healthy KVM does so in a
/// fraction of a second. The verdict is cached per host boot and qemu binary.
/// </summary>
internal static class AcceleratorProbe
{
    public static readonly TimeSpan ProbeDeadline = TimeSpan.FromSeconds(3);

    public static bool KvmDeviceUsable(out string reason)
    {
        if (!File.Exists("/dev/kvm")) { reason = "/dev/kvm does not exist"; return false; }
        try
        {
            using var fs = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            reason = "";
            return true;
        }
        catch (Exception e)
        {
            reason = $"/dev/kvm cannot be opened ({e.Message})";
            return false;
        }
    }

    public static async Task<AcceleratorChoice> ChooseAsync(AcceleratorKind requested, string qemu, string kernel,
        string cacheDir, Action<string> log, CancellationToken ct)
    {
        switch (requested)
        {
            case AcceleratorKind.Tcg:
                return new AcceleratorChoice(false, "TCG was requested", TimeSpan.Zero);
            case AcceleratorKind.Kvm:
                if (!KvmDeviceUsable(out var why))
                    throw new InvalidOperationException($"KVM was requested but {why}; use -Accelerator Tcg (or Auto) instead");
                break;
        }
        if (requested == AcceleratorKind.Auto && !KvmDeviceUsable(out var reason))
            return new AcceleratorChoice(false, reason + "; using TCG (software emulation)", TimeSpan.Zero);
        var verdict = await ProbeCachedAsync(qemu, kernel, cacheDir, log, ct).ConfigureAwait(false);
        if (requested == AcceleratorKind.Kvm)
        {
            // Forcing KVM on a host where it aborts or hangs would only fail later (or
            // wait for the launch timeout): say so now.
            if (!verdict.UseKvm)
                throw new InvalidOperationException($"KVM was requested but does not work on this host ({verdict.Detail}). Use -Accelerator Tcg or Auto (or unset force_kvm).");
            return verdict with { Reason = "KVM was requested and works" };
        }
        return verdict;
    }

    private static async Task<AcceleratorChoice> ProbeCachedAsync(string qemu, string kernel, string cacheDir, Action<string> log, CancellationToken ct)
    {
        string key = CacheKey(qemu);
        string cacheFile = Path.Combine(cacheDir, "kvm-probe");
        try
        {
            if (File.Exists(cacheFile))
            {
                var lines = File.ReadAllLines(cacheFile);
                if (lines.Length >= 2 && lines[0] == key)
                {
                    bool ok = lines[1].StartsWith("ok", StringComparison.Ordinal);
                    string cached = lines[1].StartsWith("broken ", StringComparison.Ordinal) ? lines[1].Substring(7) : lines[1];
                    return new AcceleratorChoice(ok, ok ? "KVM works (cached probe)" : $"KVM is broken on this host (cached probe: {cached}); using TCG", TimeSpan.Zero) { Detail = cached };
                }
            }
        }
        catch (IOException) { }

        var sw = System.Diagnostics.Stopwatch.StartNew();
        var (works, detail) = await ProbeAsync(qemu, kernel, ct).ConfigureAwait(false);
        sw.Stop();
        detail = FirstLine(detail);
        try
        {
            string tmp = cacheFile + "." + Environment.ProcessId;
            File.WriteAllLines(tmp, new[] { key, (works ? "ok " : "broken ") + detail });
            File.Move(tmp, cacheFile, overwrite: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        log(works
            ? $"KVM probe passed in {sw.Elapsed.TotalSeconds:0.00} s: using KVM"
            : $"KVM probe failed in {sw.Elapsed.TotalSeconds:0.00} s ({detail}): falling back to TCG (software emulation)");
        return new AcceleratorChoice(works, works ? "KVM works (probed)" : $"KVM is broken on this host ({detail}); using TCG", sw.Elapsed) { Detail = detail };
    }

    /// <summary>The first line of qemu's complaint is the useful one ("failed to set MSR …").</summary>
    private static string FirstLine(string s)
    {
        s = s.Trim();
        int nl = s.IndexOfAny(new[] { '\n', '\r' });
        return nl < 0 ? s : s.Substring(0, nl).Trim();
    }

    private static string CacheKey(string qemu)
    {
        string boot = "";
        try { boot = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(); } catch { }
        long size = 0; long mtime = 0;
        try { var fi = new FileInfo(qemu); size = fi.Length; mtime = fi.LastWriteTimeUtc.Ticks; } catch { }
        return $"v1 boot={boot} qemu={qemu}:{size}:{mtime} cpu=host";
    }

    private static async Task<(bool, string)> ProbeAsync(string qemu, string kernel, CancellationToken ct)
    {
        var args = new[]
        {
            "-no-user-config", "-nodefaults", "-display", "none", "-machine", "accel=kvm", "-cpu", "host",
            "-m", "256", "-no-reboot", "-serial", "stdio", "-kernel", kernel,
            "-append", "console=ttyS0 panic=-1 earlyprintk=ttyS0 loglevel=7",
        };
        using var q = QemuProcess.Start(qemu, args, null);
        try
        {
            bool seen = await q.WaitForConsoleAsync("Linux version", ProbeDeadline, ct).ConfigureAwait(false);
            if (seen) return (true, "kernel banner seen");
            if (q.HasExited)
            {
                string tail = q.ConsoleTail.Trim();
                int nl = tail.LastIndexOf('\n');
                if (nl >= 0 && tail.Length - nl > 200) tail = tail.Substring(nl + 1);
                if (tail.Length > 300) tail = tail.Substring(tail.Length - 300);
                return (false, $"qemu exited with status {q.ExitCode}: {tail}");
            }
            return (false, $"the kernel printed no banner within {ProbeDeadline.TotalSeconds:0} s");
        }
        finally
        {
            q.Kill();
            await Task.WhenAny(q.Exited, Task.Delay(2000)).ConfigureAwait(false);
        }
    }
}
