using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Session;

/// <summary>
/// The library halves of libguestfs's "look inside" calls: the daemon writes
/// its results into a FileOut (XDR records back to back, or length-prefixed
/// journal fields) and the library decodes them. Here the download goes to a
/// private temp file that deletes itself when closed, and the records are
/// decoded from it one at a time, so a walk over a large filesystem streams
/// instead of being collected in memory.
/// </summary>
public sealed partial class GuestSession
{
    /// <summary>Largest single record accepted from a results file (a tsk_dirent with a 4 KiB name and link is far below).</summary>
    internal const int MaxRecordBytes = 16 * 1024 * 1024;

    /// <summary>
    /// filesystem_walk: every entry of an unmounted filesystem as sleuthkit
    /// sees it, deleted entries included (those without <see cref="TskDirentFlags.Allocated"/>
    /// in <see cref="GuestTskDirent.TskFlags"/>), streamed in the daemon's order.
    /// </summary>
    public async IAsyncEnumerable<GuestTskDirent> WalkFileSystemAsync(string device, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var file = CreateResultsFile();
        await InternalFilesystemWalkAsync(device, file, cancellationToken).ConfigureAwait(false);
        file.Position = 0;
        await foreach (var d in DecodeRecordsAsync(file, static (ref XdrReader r) => GuestTskDirent.Read(ref r), "filesystem_walk", cancellationToken).ConfigureAwait(false))
            yield return d;
    }

    /// <summary>find_inode: the entries of an unmounted filesystem that name <paramref name="inode"/>.</summary>
    public async IAsyncEnumerable<GuestTskDirent> FindInodeNamesAsync(string device, long inode, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var file = CreateResultsFile();
        await InternalFindInodeAsync(device, inode, file, cancellationToken).ConfigureAwait(false);
        file.Position = 0;
        await foreach (var d in DecodeRecordsAsync(file, static (ref XdrReader r) => GuestTskDirent.Read(ref r), "find_inode", cancellationToken).ConfigureAwait(false))
            yield return d;
    }

    /// <summary>yara_scan: the rules (loaded with yara_load) that match a guest file.</summary>
    public async Task<GuestYaraDetection[]> YaraScanFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var file = CreateResultsFile();
        await InternalYaraScanAsync(path, file, cancellationToken).ConfigureAwait(false);
        file.Position = 0;
        var list = new List<GuestYaraDetection>();
        await foreach (var d in DecodeRecordsAsync(file, static (ref XdrReader r) => GuestYaraDetection.Read(ref r), "yara_scan", cancellationToken).ConfigureAwait(false))
            list.Add(d);
        return list.ToArray();
    }

    /// <summary>
    /// journal_get: the fields of the current journal entry. The daemon sends
    /// each field as a big-endian 64-bit length and that many bytes of
    /// <c>NAME=value</c>; values may be binary.
    /// </summary>
    public async Task<GuestXattr[]> JournalGetEntryAsync(CancellationToken cancellationToken = default)
    {
        await using var file = CreateResultsFile();
        await InternalJournalGetAsync(file, cancellationToken).ConfigureAwait(false);
        if (file.Length > int.MaxValue) throw new GuestFsException("journal_get", "", $"journal entry of {file.Length} bytes is too large");
        var buf = new byte[file.Length];
        file.Position = 0;
        await file.ReadExactlyAsync(buf, cancellationToken).ConfigureAwait(false);
        return ParseJournalFields(buf);
    }

    /// <summary>The journal_get wire form: [u64 BE length][NAME=value] …</summary>
    public static GuestXattr[] ParseJournalFields(ReadOnlySpan<byte> buf)
    {
        var list = new List<GuestXattr>();
        int i = 0;
        while (i < buf.Length)
        {
            if (buf.Length - i < 8)
                throw new GuestFsException("journal_get", "", $"invalid data from internal_journal_get: truncated (size={buf.Length}, i={i})");
            ulong len = BinaryPrimitives.ReadUInt64BigEndian(buf.Slice(i, 8));
            i += 8;
            if (len > (ulong)(buf.Length - i))
                throw new GuestFsException("journal_get", "", $"invalid data from internal_journal_get: length field is too large (size={buf.Length}, i={i}, len={len})");
            var field = buf.Slice(i, (int)len);
            int eq = field.IndexOf((byte)'=');
            if (eq < 0)
                throw new GuestFsException("journal_get", "", $"invalid data from internal_journal_get: no '=' found separating field name and data (size={buf.Length}, i={i})");
            list.Add(new GuestXattr { Attrname = Encoding.UTF8.GetString(field[..eq]), Attrval = field[(eq + 1)..].ToArray() });
            i += (int)len;
        }
        return list.ToArray();
    }

    /// <summary>A temp file in the session's private directory that is removed when closed (also after Ctrl+C or a failure).</summary>
    private FileStream CreateResultsFile()
    {
        string dir = TempDirectory ?? Path.GetTempPath();
        string path = Path.Combine(dir, "results-" + Guid.NewGuid().ToString("N"));
        return new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 64 * 1024,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
    }

    /// <summary>
    /// Decodes XDR records laid back to back in <paramref name="stream"/>, one
    /// at a time, reading more only when a record is cut by the buffer's end.
    /// A record cut by the end of the stream is an error naming <paramref name="what"/>.
    /// </summary>
    public static async IAsyncEnumerable<T> DecodeRecordsAsync<T>(Stream stream, ReplyDecoder<T> read, string what,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        byte[] buf = new byte[64 * 1024];
        int start = 0, end = 0;
        bool eof = false;
        string? error = null;
        while (true)
        {
            if (start == end && eof) yield break;
            if (end > start && TryDecode(buf.AsSpan(start, end - start), read, out T item, out int used, out error))
            {
                start += used;
                yield return item;
                continue;
            }
            if (eof)
                throw new GuestFsException(what, "", $"invalid data from the daemon: {error} ({end - start} bytes left)");
            if (start > 0)
            {
                Buffer.BlockCopy(buf, start, buf, 0, end - start);
                end -= start;
                start = 0;
            }
            if (end == buf.Length)
            {
                if (buf.Length >= MaxRecordBytes)
                    throw new GuestFsException(what, "", $"invalid data from the daemon: a record larger than {MaxRecordBytes} bytes");
                Array.Resize(ref buf, buf.Length * 2);
            }
            int n = await stream.ReadAsync(buf.AsMemory(end), cancellationToken).ConfigureAwait(false);
            if (n == 0) eof = true;
            else end += n;
        }
    }

    private static bool TryDecode<T>(ReadOnlySpan<byte> data, ReplyDecoder<T> read, out T item, out int used, out string? error)
    {
        var r = new XdrReader(data);
        try
        {
            item = read(ref r);
            used = r.Position;
            error = null;
            return true;
        }
        catch (XdrException e)
        {
            item = default!;
            used = 0;
            error = e.Message;
            return false;
        }
    }

    // ------------------------------------------------------------ inspect_get_icon

    private static readonly (string Distro, string[] Paths, int MaxSize)[] s_icons =
    {
        ("fedora", new[] { "/usr/share/icons/hicolor/96x96/apps/fedora-logo-icon.png" }, 0),
        ("debian", new[] { "/usr/share/pixmaps/debian-logo.png" }, 2048),
        ("ubuntu", new[] { "/usr/share/icons/gnome/24x24/places/ubuntu-logo.png", "/usr/share/help/C/ubuntu-help/figures/ubuntu-logo.png" }, 2048),
        ("mageia", new[] { "/usr/share/icons/mageia.png" }, 10240),
        ("opensuse", new[] { "/usr/share/icons/hicolor/48x48/apps/distributor.png", "/usr/share/icons/hicolor/24x24/apps/distributor.png" }, 10240),
        ("voidlinux", new[] { "/usr/share/void-artwork/void-logo.png" }, 20480),
        ("altlinux", new[] { "/usr/share/icons/hicolor/48x48/apps/altlinux.png" }, 20480),
        ("gentoo", new[] { "/usr/share/icons/gentoo/48x48/gentoo.png" }, 10240),
        ("openmandriva", new[] { "/usr/share/icons/large/mandriva.png", "/usr/share/icons/mandriva.png" }, 10240),
    };

    /// <summary>
    /// inspect_get_icon with libguestfs's defaults (favicon on, high quality
    /// off): /etc/favicon.png, else the distribution's logo at the place
    /// libguestfs 1.48.6 looks for it, as PNG bytes; an empty array when there
    /// is none. The guest's filesystems must be mounted (Open-GuestDisk -Inspect).
    /// Not done here: Windows icons (libguestfs extracts them from explorer.exe
    /// with wrestool) and CirrOS (an ASCII logo rendered with ImageMagick).
    /// </summary>
    public async Task<byte[]> GetIconAsync(string root, CancellationToken cancellationToken = default)
    {
        var os = await GetOSInfoAsync(root, cancellationToken).ConfigureAwait(false);
        var png = await GetPngAsync("/etc/favicon.png", 0, cancellationToken).ConfigureAwait(false);
        if (png is not null) return png;
        if (os.Type is not ("linux" or "hurd")) return Array.Empty<byte>();
        string distro = os.Distro switch
        {
            "suse-based" or "sles" => "opensuse",
            _ => os.Distro,
        };
        if (distro is "rhel" or "redhat-based" or "centos" or "rocky" or "scientificlinux" or "oraclelinux")
        {
            return os.MajorVersion < 7
                ? await GetPngAsync("/usr/share/pixmaps/redhat/shadowman-transparent.png", 102400, cancellationToken).ConfigureAwait(false) ?? Array.Empty<byte>()
                : await GetPngAsync("/usr/share/icons/hicolor/96x96/apps/system-logo-icon.png", 102400, cancellationToken).ConfigureAwait(false) ?? Array.Empty<byte>();
        }
        foreach (var (d, paths, max) in s_icons)
        {
            if (d != distro) continue;
            foreach (var p in paths)
                if (await GetPngAsync(p, max, cancellationToken).ConfigureAwait(false) is { } bytes) return bytes;
        }
        return Array.Empty<byte>();
    }

    /// <summary>A PNG of 16..1024 pixels a side no larger than maxSize (4·w·h when 0), or null when there is none.</summary>
    private async Task<byte[]?> GetPngAsync(string path, int maxSize, CancellationToken ct)
    {
        if (!await IsFileAsync(path, followsymlinks: true, cancellationToken: ct).ConfigureAwait(false)) return null;
        string real;
        try { real = await RealpathAsync(path, ct).ConfigureAwait(false); }
        catch (GuestFsException) { return null; }
        string type;
        try { type = await FileAsync(real, ct).ConfigureAwait(false); }
        catch (GuestFsException) { return null; }
        const string prefix = "PNG image data, ";
        if (!type.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var parts = type[prefix.Length..].Split(new[] { " x ", "," }, StringSplitOptions.TrimEntries);
        if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h)) return null;
        if (w < 16 || h < 16 || w > 1024 || h > 1024) return null;
        long max = maxSize == 0 ? 4L * w * h : maxSize;
        try
        {
            if (await FilesizeAsync(real, ct).ConfigureAwait(false) > max) return null;
            return await ReadFileAsync(real, ct).ConfigureAwait(false);
        }
        catch (GuestFsException) { return null; }
    }
}

/// <summary>The bits of <see cref="GuestTskDirent.TskFlags"/> (libguestfs's tsk_dirent flags).</summary>
[Flags]
public enum TskDirentFlags : uint
{
    None = 0,
    /// <summary>Set: the entry is allocated and visible. Clear: it was deleted (download_inode may still recover it).</summary>
    Allocated = 1,
    /// <summary>The name is unallocated but its metadata was reused by a new file: type, size, times and link may belong to that file.</summary>
    MetadataReallocated = 2,
    /// <summary>The data is compressed by the filesystem (NTFS).</summary>
    Compressed = 4,
}

public sealed partial class GuestSession
{
    /// <summary>
    /// Checksums of every regular file below <paramref name="directory"/> in
    /// one daemon call (checksums_out: find -type f | xargs &lt;tool&gt;sum),
    /// streamed from the results file as (guest path, lowercase hex) pairs.
    /// </summary>
    public async IAsyncEnumerable<(string Path, string Hash)> ChecksumTreeAsync(string csumtype, string directory,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var file = CreateResultsFile();
        await ChecksumsOutAsync(csumtype, directory, file, cancellationToken).ConfigureAwait(false);
        file.Position = 0;
        using var reader = new StreamReader(file, new UTF8Encoding(false), false, 64 * 1024, leaveOpen: true);
        string prefix = directory.TrimEnd('/');
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0) continue;
            if (!TryParseChecksumLine(line, out string hash, out string rel))
                throw new GuestFsException("checksums_out", "", $"unexpected line from the daemon: '{line}'");
            if (rel.StartsWith("./", StringComparison.Ordinal)) rel = rel[2..];
            yield return (prefix + "/" + rel, hash);
        }
    }

    /// <summary>
    /// One line of coreutils' *sum output: "hash  name", or "\hash  name" when
    /// the name had a backslash, newline or CR escaped as \\, \n, \r.
    /// </summary>
    public static bool TryParseChecksumLine(string line, out string hash, out string name)
    {
        hash = name = "";
        bool escaped = line.StartsWith('\\');
        if (escaped) line = line[1..];
        int sep = line.IndexOf("  ", StringComparison.Ordinal);
        if (sep <= 0) return false;
        hash = line[..sep];
        name = line[(sep + 2)..];
        if (escaped)
        {
            var sb = new StringBuilder(name.Length);
            for (int i = 0; i < name.Length; i++)
            {
                if (name[i] == '\\' && i + 1 < name.Length)
                {
                    char c = name[++i];
                    sb.Append(c switch { 'n' => '\n', 'r' => '\r', _ => c });
                }
                else sb.Append(name[i]);
            }
            name = sb.ToString();
        }
        foreach (char c in hash) if (!Uri.IsHexDigit(c)) return false;
        return true;
    }
}
