using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Appliance;
using GuestFs.Engine.Launch;

namespace GuestFs.Engine.Library;

/// <summary>What qemu-img says about an image.</summary>
public sealed record DiskImageInfo(string Path, string Format, long VirtualSize, long ActualSize, string? BackingFile);

/// <summary>
/// The library-side disk calls (disk_format, disk_virtual_size,
/// disk_has_backing_file, disk_create), done with qemu-img as libguestfs does.
/// </summary>
public static class DiskImage
{
    private static string QemuImg() =>
        ExternalCommand.Find("qemu-img") ?? throw new MissingDependencyException("The program 'qemu-img'", "qemu-utils");

    /// <summary>Runs <c>qemu-img info -U --output json</c> (with a time limit).</summary>
    public static async Task<DiskImageInfo> InfoAsync(string path, CancellationToken ct = default)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new FileNotFoundException($"The disk image '{full}' does not exist", full);
        var r = await ExternalCommand.RunAsync(QemuImg(), new[] { "info", "-U", "--output", "json", full }, ct, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        if (!r.Success)
            throw new InvalidDataException($"qemu-img cannot read '{full}': {r.StandardError.Trim()} — the image is corrupt, truncated, or not a disk image");
        using var doc = JsonDocument.Parse(r.StandardOutput);
        var root = doc.RootElement;
        string format = root.TryGetProperty("format", out var f) ? f.GetString() ?? "raw" : "raw";
        long vsize = root.TryGetProperty("virtual-size", out var vs) ? vs.GetInt64() : 0;
        long asize = root.TryGetProperty("actual-size", out var a) ? a.GetInt64() : 0;
        string? backing = root.TryGetProperty("backing-filename", out var b) ? b.GetString() : null;
        return new DiskImageInfo(full, format, vsize, asize, backing);
    }

    public static async Task<string> DetectFormatAsync(string path, CancellationToken ct = default) =>
        (await InfoAsync(path, ct).ConfigureAwait(false)).Format;

    /// <summary>
    /// The format of a drive source as qemu-img detects it. A local file goes
    /// through <see cref="InfoAsync"/>; a network source is probed through its
    /// json: name (<paramref name="objects"/> define the secrets it refers to), and
    /// a failure names the source.
    /// </summary>
    public static async Task<string> DetectFormatAsync(DriveSource source, IReadOnlyList<string> objects, CancellationToken ct = default)
    {
        if (source is FileDriveSource f) return await DetectFormatAsync(f.Path, ct).ConfigureAwait(false);
        var args = new List<string> { "info", "-U", "--output", "json" };
        foreach (var o in objects) { args.Add("--object"); args.Add(o); }
        // QemuImgName puts the protocol node under "file", so qemu-img probes the format on
        // top (raw, qcow2 …) instead of reporting the protocol ("nbd", "http") as the format.
        args.Add(source.QemuImgName(objects.Count > 0 ? SecretId(objects[0]) : null));
        CommandResult r;
        try
        {
            r = await ExternalCommand.RunAsync(QemuImg(), args, ct, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new DriveSourceException(source, $"{source.Display} did not answer within 30 s; check that the server is up and reachable", e);
        }
        if (!r.Success)
        {
            string error = OneLine(r.StandardError);
            string? advice = source.Advice(error);
            throw new DriveSourceException(source, $"could not open {source.Display}: {error}" + (advice is null ? "" : $" ({advice})"));
        }
        using var doc = JsonDocument.Parse(r.StandardOutput);
        return doc.RootElement.TryGetProperty("format", out var fm) ? fm.GetString() ?? "raw" : "raw";
    }

    private static string SecretId(string objectArg)
    {
        foreach (var part in objectArg.Split(','))
            if (part.StartsWith("id=", StringComparison.Ordinal)) return part.Substring(3);
        return "";
    }

    private static string OneLine(string s) => s.Replace("\r", "").Replace('\n', ' ').Trim();

    /// <summary>
    /// Creates a new, empty image (sparse raw file or qcow2). Refuses to
    /// overwrite an existing file unless <paramref name="overwrite"/>.
    /// </summary>
    public static async Task CreateAsync(string path, long sizeBytes, string format = "raw", bool overwrite = false,
        CancellationToken ct = default)
    {
        if (sizeBytes <= 0) throw new ArgumentOutOfRangeException(nameof(sizeBytes), "the image size must be positive");
        string full = System.IO.Path.GetFullPath(path);
        if (File.Exists(full) && !overwrite)
            throw new IOException($"'{full}' already exists; choose another path or pass -Force to replace it");
        string dir = System.IO.Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"the directory '{dir}' does not exist; create it first");
        switch (format)
        {
            case "raw":
                using (var fs = new FileStream(full, FileMode.Create, FileAccess.Write))
                    fs.SetLength(sizeBytes);
                break;
            case "qcow2":
                var r = await ExternalCommand.RunAsync(QemuImg(), new[] { "create", "-q", "-f", "qcow2", full, sizeBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) }, ct, TimeSpan.FromMinutes(1)).ConfigureAwait(false);
                if (!r.Success) throw new IOException($"qemu-img could not create '{full}': {r.Combined}");
                break;
            default:
                throw new ArgumentException($"format '{format}' is not supported for new images; use raw or qcow2", nameof(format));
        }
    }
}
