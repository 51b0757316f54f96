using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace GuestFs.Engine.Launch;

/// <summary>Result of a helper program run to completion.</summary>
internal sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Success => ExitCode == 0;
    public string Combined => (StandardOutput + "\n" + StandardError).Trim();
}

/// <summary>
/// Runs helper programs (qemu-img, supermin …) with an argument list, never
/// through a shell, so no user string is ever interpreted.
/// </summary>
internal static class ExternalCommand
{
    /// <summary>Finds an executable on PATH (or returns an absolute path as is), null when absent.</summary>
    public static string? Find(string name)
    {
        if (name.Contains('/'))
            return File.Exists(name) ? name : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (var dir in (path + ":/usr/sbin:/sbin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static async Task<CommandResult> RunAsync(string program, IEnumerable<string> args, CancellationToken ct = default,
        TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        if (environment is not null)
            foreach (var kv in environment) psi.Environment[kv.Key] = kv.Value;
        using var p = new Process { StartInfo = psi };
        try
        {
            p.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new FileNotFoundException($"cannot run '{program}': {e.Message}", program, e);
        }
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout is { } t) cts.CancelAfter(t);
        try
        {
            await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch { }
            try { p.WaitForExit(2000); } catch { }
            if (ct.IsCancellationRequested) throw;
            throw new TimeoutException($"'{program}' did not finish within {timeout?.TotalSeconds:0} s");
        }
        return new CommandResult(p.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }
}
