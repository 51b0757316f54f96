using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace GuestFs.Engine.Library;

/// <summary>
/// Extracts a tar stream that came from a guest (untrusted) into a host
/// directory without ever writing outside it: absolute names and '..' are
/// refused, nothing is written through a symbolic link, links are created
/// only after every regular file, device nodes and FIFOs are skipped, and
/// each file is written under a temporary name and renamed when complete.
/// </summary>
public sealed class SafeTarExtractor
{
    private readonly string _root;
    private readonly bool _overwrite;
    private readonly List<(string Path, string Target)> _symlinks = new();
    private readonly List<(string Path, string LinkTo)> _hardlinks = new();
    private readonly List<(string Path, DateTimeOffset MTime)> _dirTimes = new();

    public SafeTarExtractor(string root, bool overwrite)
    {
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _overwrite = overwrite;
    }

    /// <summary>Called for entries that were skipped or refused, with the reason.</summary>
    public Action<string, string>? Skipped { get; init; }

    /// <summary>Called after each regular file is complete: guest-relative name and its size.</summary>
    public Action<string, long>? FileDone { get; init; }

    /// <summary>Called when a regular file starts, with its archive name.</summary>
    public Action<string>? FileStarted { get; init; }

    /// <summary>Called while file data is written, with the running byte total.</summary>
    public Action<long>? BytesWritten { get; init; }

    public int Files { get; private set; }
    public int Directories { get; private set; }
    public long Bytes { get; private set; }

    /// <summary>Validates an archive name and returns the host path it maps to, or null (with the reason).</summary>
    public string? MapName(string name, out string? reason)
    {
        reason = null;
        if (string.IsNullOrEmpty(name) || name.IndexOf('\0') >= 0) { reason = "empty name or NUL byte"; return null; }
        if (name.StartsWith('/')) { reason = "absolute name"; return null; }
        var parts = new List<string>();
        foreach (var seg in name.Split('/'))
        {
            if (seg.Length == 0 || seg == ".") continue;
            if (seg == "..") { reason = "'..' component"; return null; }
            parts.Add(seg);
        }
        if (parts.Count == 0) return _root;
        string dest = Path.GetFullPath(Path.Combine(_root, Path.Combine(parts.ToArray())));
        if (!dest.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) && dest != _root)
        {
            reason = "outside the destination";
            return null;
        }
        // Nothing may be written through a symbolic link that is already there.
        string probe = _root;
        for (int i = 0; i < parts.Count - 1; i++)
        {
            probe = Path.Combine(probe, parts[i]);
            var fi = new FileInfo(probe);
            if (fi.Exists || Directory.Exists(probe))
            {
                if (fi.LinkTarget is not null || new DirectoryInfo(probe).LinkTarget is not null)
                {
                    reason = "a parent is a symbolic link";
                    return null;
                }
            }
        }
        return dest;
    }

    public async Task ExtractAsync(Stream tar, CancellationToken ct)
    {
        Directory.CreateDirectory(_root);
        using var reader = new TarReader(tar, leaveOpen: true);
        TarEntry? entry;
        while ((entry = await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false)) is not null)
        {
            ct.ThrowIfCancellationRequested();
            string? dest = MapName(entry.Name, out var why);
            if (dest is null)
            {
                Skipped?.Invoke(entry.Name, $"refused ({why})");
                continue;
            }
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (File.Exists(dest) || new FileInfo(dest).LinkTarget is not null)
                    {
                        Skipped?.Invoke(entry.Name, "refused (a file or link with that name already exists)");
                        continue;
                    }
                    Directory.CreateDirectory(dest);
                    TrySetMode(dest, entry.Mode, isDirectory: true);
                    _dirTimes.Add((dest, entry.ModificationTime));
                    Directories++;
                    break;
                case TarEntryType.RegularFile:
                case TarEntryType.V7RegularFile:
                case TarEntryType.ContiguousFile:
                    try
                    {
                        await WriteEntryAsync(entry, dest, ct).ConfigureAwait(false);
                    }
                    catch (IOException e) when (e is PathTooLongException || e.Message.Contains("name too long", StringComparison.OrdinalIgnoreCase))
                    {
                        // The host cannot hold that name: skip it, keep the rest of the tree.
                        Skipped?.Invoke(entry.Name, $"skipped (the host cannot create it: {e.Message})");
                    }
                    break;
                case TarEntryType.SymbolicLink:
                    _symlinks.Add((dest, entry.LinkName));
                    break;
                case TarEntryType.HardLink:
                    _hardlinks.Add((dest, entry.LinkName));
                    break;
                case TarEntryType.CharacterDevice:
                case TarEntryType.BlockDevice:
                case TarEntryType.Fifo:
                    Skipped?.Invoke(entry.Name, $"skipped ({entry.EntryType} cannot be copied to the host)");
                    break;
                default:
                    Skipped?.Invoke(entry.Name, $"skipped (tar entry type {entry.EntryType})");
                    break;
            }
        }
        // Links last: no file is ever written through a link from the archive.
        foreach (var (path, linkTo) in _hardlinks)
        {
            string? source = MapName(linkTo, out var why);
            if (source is null || !File.Exists(source) || new FileInfo(source).LinkTarget is not null)
            {
                Skipped?.Invoke(path, $"hard link to '{linkTo}' skipped ({why ?? "target not extracted"})");
                continue;
            }
            if (!PrepareTarget(path)) continue;
            File.Copy(source, path, overwrite: false);
            Files++;
        }
        foreach (var (path, target) in _symlinks)
        {
            if (!PrepareTarget(path)) continue;
            try { File.CreateSymbolicLink(path, target); }
            catch (IOException e) { Skipped?.Invoke(path, $"symbolic link not created ({e.Message})"); }
        }
        for (int i = _dirTimes.Count - 1; i >= 0; i--)
        {
            try { Directory.SetLastWriteTimeUtc(_dirTimes[i].Path, _dirTimes[i].MTime.UtcDateTime); } catch { }
        }
    }

    private bool PrepareTarget(string path)
    {
        var fi = new FileInfo(path);
        if (fi.Exists || fi.LinkTarget is not null)
        {
            if (!_overwrite)
            {
                Skipped?.Invoke(path, "skipped (exists; use -Force to replace)");
                return false;
            }
            fi.Delete();
        }
        else if (Directory.Exists(path))
        {
            Skipped?.Invoke(path, "skipped (a directory with that name exists)");
            return false;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return true;
    }

    private async Task WriteEntryAsync(TarEntry entry, string dest, CancellationToken ct)
    {
        if (!PrepareTarget(dest)) { return; }
        FileStarted?.Invoke(entry.Name);
        string dir = Path.GetDirectoryName(dest)!;
        string tmp = Path.Combine(dir, PartialName.For(Path.GetFileName(dest)));
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                if (entry.DataStream is { } data)
                {
                    var buf = new byte[81920];
                    int n;
                    while ((n = await data.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
                    {
                        await fs.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                        Bytes += n;
                        BytesWritten?.Invoke(Bytes);
                    }
                }
            }
            TrySetMode(tmp, entry.Mode, isDirectory: false);
            File.SetLastWriteTimeUtc(tmp, entry.ModificationTime.UtcDateTime);
            File.Move(tmp, dest, overwrite: _overwrite);
            Files++;
            FileDone?.Invoke(entry.Name, entry.Length);
        }
        catch
        {
            try { File.Delete(tmp); } catch { }
            throw;
        }
    }

    private static void TrySetMode(string path, UnixFileMode mode, bool isDirectory)
    {
        // Never carry setuid/setgid/sticky from an untrusted guest to the host.
        mode &= ~(UnixFileMode.SetUser | UnixFileMode.SetGroup | UnixFileMode.StickyBit);
        if (isDirectory) mode |= UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        else mode |= UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try { File.SetUnixFileMode(path, mode); } catch { }
    }
}
