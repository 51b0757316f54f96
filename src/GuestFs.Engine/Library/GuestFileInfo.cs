using System;
using System.Text;

namespace GuestFs.Engine.Library;

/// <summary>What kind of file system object a guest path is.</summary>
public enum GuestItemType
{
    File,
    Directory,
    SymbolicLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    Unknown,
}

/// <summary>
/// One guest file with its lstat data, as the listing cmdlets emit it.
/// Plain data, so it survives remoting serialisation unchanged.
/// </summary>
public sealed class GuestFileInfo
{
    public string Name { get; init; } = "";

    /// <summary>Absolute guest path.</summary>
    public string FullName { get; init; } = "";

    /// <summary>The guest directory that holds it.</summary>
    public string DirectoryName { get; init; } = "";

    public GuestItemType ItemType { get; init; }

    /// <summary>Size in bytes (st_size).</summary>
    public long Length { get; init; }

    /// <summary>The ls -l style mode string, for example <c>-rwxr-xr-x</c>.</summary>
    public string Mode => FormatMode(UnixMode);

    /// <summary>st_mode: type and permission bits.</summary>
    public int UnixMode { get; init; }

    /// <summary>Permission bits only, as octal text (for example <c>0755</c>).</summary>
    public string Permissions => "0" + Convert.ToString(UnixMode & 0xFFF, 8).PadLeft(3, '0');

    public long Uid { get; init; }
    public long Gid { get; init; }
    public long Inode { get; init; }
    public long LinkCount { get; init; }
    public long Blocks { get; init; }
    public long Device { get; init; }
    public DateTime LastWriteTime { get; init; }
    public DateTime LastAccessTime { get; init; }
    public DateTime ChangeTime { get; init; }

    /// <summary>For symbolic links, where the link points.</summary>
    public string? Target { get; init; }

    public bool IsDirectory => ItemType == GuestItemType.Directory;

    /// <summary>
    /// The same as <see cref="IsDirectory"/>, under the name PowerShell gives it on
    /// file system items (Where-Object PSIsContainer). A real property rather than
    /// type data, because the GuestFs provider sets its own PSIsContainer on the
    /// items it writes, and PowerShell refuses that for a member from type data.
    /// </summary>
    public bool PSIsContainer => IsDirectory;

    public override string ToString() => FullName;

    public static GuestItemType TypeFromMode(long mode) => (mode & 0xF000) switch
    {
        0x8000 => GuestItemType.File,
        0x4000 => GuestItemType.Directory,
        0xA000 => GuestItemType.SymbolicLink,
        0x2000 => GuestItemType.CharacterDevice,
        0x6000 => GuestItemType.BlockDevice,
        0x1000 => GuestItemType.Fifo,
        0xC000 => GuestItemType.Socket,
        _ => GuestItemType.Unknown,
    };

    /// <summary><c>drwxr-xr-x</c>-style text for a st_mode value, including setuid/setgid/sticky.</summary>
    public static string FormatMode(int mode)
    {
        var sb = new StringBuilder(10);
        sb.Append(TypeFromMode(mode) switch
        {
            GuestItemType.Directory => 'd',
            GuestItemType.SymbolicLink => 'l',
            GuestItemType.CharacterDevice => 'c',
            GuestItemType.BlockDevice => 'b',
            GuestItemType.Fifo => 'p',
            GuestItemType.Socket => 's',
            GuestItemType.File => '-',
            _ => '?',
        });
        void Triplet(int r, int w, int x, int special, char specialSet, char specialNoExec)
        {
            sb.Append((mode & r) != 0 ? 'r' : '-');
            sb.Append((mode & w) != 0 ? 'w' : '-');
            bool exec = (mode & x) != 0, sp = (mode & special) != 0;
            sb.Append(sp ? (exec ? specialSet : specialNoExec) : (exec ? 'x' : '-'));
        }
        Triplet(0x100, 0x80, 0x40, 0x800, 's', 'S');
        Triplet(0x20, 0x10, 0x8, 0x400, 's', 'S');
        Triplet(0x4, 0x2, 0x1, 0x200, 't', 'T');
        return sb.ToString();
    }

    internal static DateTime FromUnix(long seconds, long nanoseconds)
    {
        try
        {
            return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(nanoseconds / 100).LocalDateTime;
        }
        catch (ArgumentOutOfRangeException)
        {
            return DateTime.MinValue;
        }
    }
}

/// <summary>Guest path helpers: guest paths are always '/'-separated and absolute.</summary>
public static class GuestPath
{
    public static string Combine(string dir, string name) =>
        dir.EndsWith('/') ? dir + name : dir + "/" + name;

    public static string GetFileName(string path)
    {
        var p = path.TrimEnd('/');
        int i = p.LastIndexOf('/');
        return i < 0 ? p : p.Substring(i + 1);
    }

    public static string GetDirectoryName(string path)
    {
        var p = path.TrimEnd('/');
        int i = p.LastIndexOf('/');
        if (i <= 0) return "/";
        return p.Substring(0, i);
    }

    /// <summary>
    /// Makes an absolute, normalised guest path: collapses '//' and '.',
    /// resolves '..' lexically (never above '/'), relative paths are taken from
    /// <paramref name="current"/>.
    /// </summary>
    public static string Normalize(string path, string current = "/")
    {
        if (string.IsNullOrEmpty(path)) return current;
        string full = path.StartsWith('/') ? path : Combine(current, path);
        var parts = new System.Collections.Generic.List<string>();
        foreach (var seg in full.Split('/'))
        {
            if (seg.Length == 0 || seg == ".") continue;
            if (seg == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(seg);
        }
        return "/" + string.Join("/", parts);
    }
}
