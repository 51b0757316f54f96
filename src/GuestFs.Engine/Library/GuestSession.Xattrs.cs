using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Library;

namespace GuestFs.Engine.Session;

public sealed partial class GuestSession
{
    /// <summary>Names per internal_lxattrlist call: keeps request and reply far below the message limit.</summary>
    internal const int XattrBatch = 256;

    /// <summary>
    /// The extended attributes of many items of one directory (without following symbolic
    /// links), through internal_lxattrlist in batches. Returns name → attributes sorted by
    /// attribute name; an item whose attributes could not be listed gets an empty list, as
    /// the daemon reports it.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, GuestXattr[]>> GetXattrsAsync(string directory, IReadOnlyList<string> names, CancellationToken cancellationToken = default)
    {
        directory = GuestPath.Normalize(directory);
        var result = new Dictionary<string, GuestXattr[]>(StringComparer.Ordinal);
        for (int offset = 0; offset < names.Count; offset += XattrBatch)
        {
            var batch = names.Skip(offset).Take(XattrBatch).ToArray();
            var flat = await InternalLxattrlistAsync(directory, batch, cancellationToken).ConfigureAwait(false);
            foreach (var (name, attrs) in SplitXattrList(batch, flat))
                result[name] = attrs;
        }
        return result;
    }

    /// <summary>
    /// Splits internal_lxattrlist's flat reply: per name, an entry with an empty attribute
    /// name whose value is the count in decimal (NUL-terminated, or empty when the item's
    /// attributes could not be listed), followed by that many attributes.
    /// </summary>
    internal static IEnumerable<(string Name, GuestXattr[] Attrs)> SplitXattrList(IReadOnlyList<string> names, IReadOnlyList<GuestXattr> flat)
    {
        int k = 0;
        foreach (var name in names)
        {
            if (k >= flat.Count || flat[k].Attrname.Length != 0)
                throw new InvalidDataException($"internal_lxattrlist: the reply has no count entry for '{name}' (entry {k} of {flat.Count}).");
            string text = Encoding.ASCII.GetString(flat[k].Attrval).TrimEnd('\0');
            int n = text.Length == 0 ? 0 : int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
            k++;
            if (n < 0 || k + n > flat.Count)
                throw new InvalidDataException($"internal_lxattrlist: '{name}' claims {n} attributes but the reply has {flat.Count - k} left.");
            var attrs = new GuestXattr[n];
            for (int i = 0; i < n; i++) attrs[i] = flat[k + i];
            Array.Sort(attrs, (a, b) => string.CompareOrdinal(a.Attrname, b.Attrname));
            k += n;
            yield return (name, attrs);
        }
        if (k != flat.Count)
            throw new InvalidDataException($"internal_lxattrlist: {flat.Count - k} entries left over after {names.Count} names.");
    }
}
