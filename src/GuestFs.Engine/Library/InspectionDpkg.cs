using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace GuestFs.Engine.Library;

/// <summary>
/// Reads dpkg's database (/var/lib/dpkg/status): RFC 822-style stanzas separated
/// by blank lines. Only packages whose status says "installed" are listed.
/// Pure parsing, no I/O, so hostile or truncated files are tested directly.
/// </summary>
public static class InspectionDpkg
{
    /// <summary>Largest status file read (libguestfs uses the same limit).</summary>
    public const long MaxStatusSize = 50_000_000;

    /// <summary>The installed packages in <paramref name="status"/>, sorted by name (ordinal).</summary>
    public static List<GuestApplication> ParseStatus(ReadOnlySpan<byte> status)
    {
        // dpkg writes UTF-8; a stray invalid byte becomes U+FFFD instead of failing the whole list.
        string text = Encoding.UTF8.GetString(status);
        var apps = new List<GuestApplication>();
        var stanza = new Stanza();
        string? lastField = null;
        using var reader = new StringReader(text);
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length == 0 || line.Trim().Length == 0)
            {
                Flush(stanza, apps);
                stanza = new Stanza();
                lastField = null;
                continue;
            }
            if (line[0] is ' ' or '\t')
            {
                // Continuation of the previous field; only Description's is kept.
                if (lastField == "description")
                    stanza.DescriptionLines.Add(line.Substring(1));
                continue;
            }
            int colon = line.IndexOf(':');
            if (colon <= 0) { lastField = null; continue; }
            string field = line.Substring(0, colon).Trim().ToLowerInvariant();
            string value = line.Substring(colon + 1).Trim();
            lastField = field;
            switch (field)
            {
                case "package": stanza.Name = value; break;
                case "status": stanza.Status = value; break;
                case "version": stanza.Version = value; break;
                case "architecture": stanza.Arch = value; break;
                case "homepage": stanza.Url = value; break;
                case "source":
                    // "Source: name (version)" when the source version differs: the name only.
                    int sp = value.IndexOf(' ');
                    stanza.Source = sp < 0 ? value : value.Substring(0, sp);
                    break;
                case "description": stanza.Summary = value; break;
            }
        }
        Flush(stanza, apps);
        apps.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return apps;
    }

    /// <summary>
    /// Splits a Debian version "[epoch:]upstream[-revision]" (revision after the
    /// last hyphen). Returns false when the epoch is not a number.
    /// </summary>
    public static bool TrySplitVersion(string full, out int epoch, out string version, out string release)
    {
        epoch = 0; version = full; release = "";
        int colon = full.IndexOf(':');
        if (colon >= 0)
        {
            if (!int.TryParse(full.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out epoch)) return false;
            version = full.Substring(colon + 1);
        }
        int dash = version.LastIndexOf('-');
        if (dash >= 0)
        {
            release = version.Substring(dash + 1);
            version = version.Substring(0, dash);
        }
        return true;
    }

    /// <summary>True for a dpkg status "want flag state" whose state is installed.</summary>
    public static bool IsInstalled(string? status)
    {
        if (string.IsNullOrEmpty(status)) return false;
        var words = status.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Length > 0 && words[^1] == "installed";
    }

    private static void Flush(Stanza s, List<GuestApplication> apps)
    {
        if (s.Name is null || s.Version is null || !IsInstalled(s.Status)) return;
        if (!TrySplitVersion(s.Version, out int epoch, out string version, out string release)) return;
        apps.Add(new GuestApplication
        {
            Name = s.Name,
            Epoch = epoch,
            Version = version,
            Release = release,
            Arch = s.Arch ?? "",
            Url = s.Url ?? "",
            SourcePackage = s.Source ?? "",
            Summary = s.Summary ?? "",
            Description = string.Join("\n", s.DescriptionLines),
        });
    }

    private sealed class Stanza
    {
        public string? Name, Status, Version, Arch, Url, Source, Summary;
        public readonly List<string> DescriptionLines = new();
    }
}
