using System;
using System.Text;

namespace GuestFs.Engine.Library;

/// <summary>
/// Hidden temporary names for files being written (".NAME.guestfs-partial[-RANDOM]"),
/// renamed to NAME only when complete. Kept within the 255-byte name limit of
/// Linux filesystems: a long NAME is shortened in the temporary name only.
/// </summary>
public static class PartialName
{
    private const int NameMax = 255;

    public static string For(string fileName, bool random = true)
    {
        string suffix = ".guestfs-partial" + (random ? "-" + Guid.NewGuid().ToString("N").Substring(0, 8) : "");
        int room = NameMax - 1 - Encoding.UTF8.GetByteCount(suffix);
        string stem = fileName;
        if (Encoding.UTF8.GetByteCount(stem) > room)
        {
            // Cut on a character boundary (never inside a surrogate pair).
            var sb = new StringBuilder();
            int bytes = 0;
            for (int i = 0; i < stem.Length; i++)
            {
                int n = char.IsHighSurrogate(stem[i]) && i + 1 < stem.Length ? 2 : 1;
                int b = Encoding.UTF8.GetByteCount(stem.AsSpan(i, n));
                if (bytes + b > room) break;
                sb.Append(stem, i, n);
                bytes += b;
                i += n - 1;
            }
            stem = sb.ToString();
        }
        return "." + stem + suffix;
    }
}
