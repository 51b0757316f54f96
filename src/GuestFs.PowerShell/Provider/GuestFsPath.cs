using System;
using System.Text;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Provider;

/// <summary>
/// The GuestFs provider's own path syntax, kept apart from the provider so it
/// can be tested without PowerShell.
///
/// A provider path is the drive-qualified path the user sees, <c>vm:/etc/hosts</c>;
/// every drive's Root is <c>name:/</c>. The drive is part of the path because
/// PowerShell hands provider-qualified paths (the PSPath of every item,
/// <c>GuestFs\GuestFs::vm:/etc/hosts</c>) to the provider without a drive, and
/// several drives may sit on different disks. The drive supplies the disk and
/// the guest directory its root stands for, so on a drive rooted at /boot,
/// <c>boot:/grub</c> is the guest path /boot/grub.
///
/// PowerShell also passes drive-relative paths (<c>etc/hosts</c>, no drive,
/// no leading separator) to MakePath, GetParentPath and GetChildName, and on
/// Unix it turns backslashes into slashes before the provider sees most paths;
/// these helpers accept all of those forms and never touch the guest.
/// </summary>
internal static class GuestFsPath
{
    /// <summary>Backslashes become slashes and runs of slashes collapse to one.</summary>
    public static string Normalize(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "";
        var sb = new StringBuilder(path.Length);
        foreach (char c0 in path)
        {
            char c = c0 == '\\' ? '/' : c0;
            if (c == '/' && sb.Length > 0 && sb[sb.Length - 1] == '/') continue;
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Splits <c>name:rest</c> when the text before the first colon is a
    /// plausible drive name (no separators). <paramref name="rest"/> keeps its form.
    /// </summary>
    public static bool TrySplitDrive(string path, out string drive, out string rest)
    {
        int colon = path.IndexOf(':');
        if (colon > 0 && path.IndexOfAny(new[] { '/', '\\' }, 0, colon) < 0)
        {
            drive = path.Substring(0, colon);
            rest = path.Substring(colon + 1);
            return true;
        }
        drive = "";
        rest = path;
        return false;
    }

    /// <summary>
    /// The path inside the drive that a provider path names: always rooted,
    /// '.' and '..' resolved lexically and never above the drive's root.
    /// </summary>
    public static string ToRootedPath(string providerPath)
    {
        TrySplitDrive(Normalize(providerPath), out _, out var rest);
        return GuestPath.Normalize(rest.StartsWith('/') ? rest : "/" + rest);
    }

    /// <summary>The guest path of a rooted drive path on a drive whose root is the guest directory <paramref name="guestRoot"/>.</summary>
    public static string ToGuestPath(string guestRoot, string rootedPath)
    {
        if (guestRoot == "/") return rootedPath;
        return rootedPath == "/" ? guestRoot : guestRoot + rootedPath;
    }

    /// <summary>
    /// The provider path of a guest path on a drive: <c>vm:/etc</c>; null when
    /// the guest path is outside the drive's root.
    /// </summary>
    public static string? FromGuestPath(string drive, string guestRoot, string guestPath)
    {
        if (!IsAtOrBelow(guestPath, guestRoot)) return null;
        string rooted = guestRoot == "/" ? guestPath : guestPath.Length == guestRoot.Length ? "/" : guestPath.Substring(guestRoot.Length);
        return drive + ":" + rooted;
    }

    /// <summary>True for the forms that name a root: "", "/", "vm:", "vm:/".</summary>
    private static bool IsRoot(string normalized)
    {
        TrySplitDrive(normalized, out _, out var rest);
        return rest.Length == 0 || rest == "/";
    }

    /// <summary>Drops trailing separators except the one that makes a root ("/", "vm:/").</summary>
    private static string TrimTrailing(string normalized)
    {
        if (IsRoot(normalized))
        {
            // "vm:" and "vm:/" are the same root; keep one spelling.
            return TrySplitDrive(normalized, out var d, out _) ? d + ":/" : normalized;
        }
        return normalized.EndsWith('/') ? normalized.Substring(0, normalized.Length - 1) : normalized;
    }

    /// <summary>
    /// Joins a parent and a child as NavigationCmdletProvider.MakePath does: an
    /// empty parent gives the child; an empty child (or a bare separator) gives
    /// the parent ending in a separator.
    /// </summary>
    public static string MakePath(string? parent, string? child)
    {
        string p = Normalize(parent), c = Normalize(child);
        if (p.Length == 0) return c;
        if (c.Length == 0 || c == "/") return p.EndsWith('/') ? p : p + "/";
        return p.TrimEnd('/') + "/" + c.TrimStart('/');
    }

    /// <summary>
    /// The parent of a path, or "" at the top (the drive root <paramref name="root"/>,
    /// a guest root, or a single relative name), which is how PowerShell knows to stop.
    /// </summary>
    public static string GetParentPath(string path, string? root)
    {
        string n = TrimTrailing(Normalize(path));
        if (!string.IsNullOrEmpty(root) && string.Equals(n, TrimTrailing(Normalize(root)), StringComparison.Ordinal)) return "";
        if (IsRoot(n)) return "";
        bool hasDrive = TrySplitDrive(n, out var drive, out var rest);
        string prefix = hasDrive ? drive + ":" : "";
        int i = rest.LastIndexOf('/');
        if (i < 0) return hasDrive ? prefix + "/" : "";
        if (i == 0) return prefix + "/";
        return prefix + rest.Substring(0, i);
    }

    /// <summary>The last element of a path; "" for a root.</summary>
    public static string GetChildName(string path)
    {
        string n = TrimTrailing(Normalize(path));
        if (IsRoot(n)) return "";
        TrySplitDrive(n, out _, out var rest);
        int i = rest.LastIndexOf('/');
        return i < 0 ? rest : rest.Substring(i + 1);
    }

    /// <summary>
    /// <paramref name="path"/> relative to <paramref name="basePath"/> (both
    /// provider paths on the same drive): <c>etc/hosts</c> below it,
    /// <c>../x</c> beside it, <c>../name</c> for the base itself — what
    /// Resolve-Path -Relative and relative tab completion show. A path on
    /// another drive comes back unchanged.
    /// </summary>
    public static string MakeRelative(string path, string basePath)
    {
        string p = Normalize(path), b = Normalize(basePath);
        bool trailing = p.Length > 1 && p.EndsWith('/') && !IsRoot(p);
        bool pd = TrySplitDrive(p, out var pDrive, out _), bd = TrySplitDrive(b, out var bDrive, out _);
        if (pd && bd && !string.Equals(pDrive, bDrive, StringComparison.OrdinalIgnoreCase)) return path;
        var ps = ToRootedPath(p).Split('/', StringSplitOptions.RemoveEmptyEntries);
        var bs = ToRootedPath(b).Split('/', StringSplitOptions.RemoveEmptyEntries);
        int common = 0;
        while (common < ps.Length && common < bs.Length && ps[common] == bs[common]) common++;
        string result;
        if (common == ps.Length && common == bs.Length)
            result = ps.Length == 0 ? "" : "../" + ps[ps.Length - 1];
        else
        {
            var parts = new System.Collections.Generic.List<string>();
            for (int i = common; i < bs.Length; i++) parts.Add("..");
            for (int i = common; i < ps.Length; i++) parts.Add(ps[i]);
            result = string.Join("/", parts);
        }
        return trailing && result.Length > 0 ? result + "/" : result;
    }

    /// <summary>Whether <paramref name="guestPath"/> is <paramref name="root"/> or below it.</summary>
    public static bool IsAtOrBelow(string guestPath, string root) =>
        root == "/" || guestPath == root || guestPath.StartsWith(root + "/", StringComparison.Ordinal);
}
