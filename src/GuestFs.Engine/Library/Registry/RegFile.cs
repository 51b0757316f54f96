using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace GuestFs.Engine.Library.Registry;

/// <summary>Registry value types as hivex and the regf format number them.</summary>
public static class RegType
{
    public const int None = 0;
    public const int String = 1;
    public const int ExpandString = 2;
    public const int Binary = 3;
    public const int DWord = 4;
    public const int DWordBigEndian = 5;
    public const int Link = 6;
    public const int MultiString = 7;
    public const int QWord = 11;

    /// <summary>The name PowerShell's Registry provider (RegistryValueKind) gives a type; other types are "Unknown".</summary>
    public static string Name(int type) => type switch
    {
        None => "None",
        String => "String",
        ExpandString => "ExpandString",
        Binary => "Binary",
        DWord => "DWord",
        MultiString => "MultiString",
        QWord => "QWord",
        _ => "Unknown",
    };

    /// <summary>The type a RegistryValueKind name stands for (case-insensitive), or null.</summary>
    public static int? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "none" => None,
        "string" or "reg_sz" => String,
        "expandstring" or "reg_expand_sz" => ExpandString,
        "binary" or "reg_binary" => Binary,
        "dword" or "reg_dword" => DWord,
        "multistring" or "reg_multi_sz" => MultiString,
        "qword" or "reg_qword" => QWord,
        _ => null,
    };
}

/// <summary>One value of a registry key: its name ("" for the default value), type and raw data.</summary>
public sealed record RegValue(string Name, int Type, byte[] Data)
{
    /// <summary>
    /// The value as PowerShell's Registry provider gives it: String and ExpandString as
    /// string (up to the first NUL; ExpandString is not expanded: the guest's variables
    /// are not the host's), MultiString as string[], DWord as int, QWord as long,
    /// everything else (and a DWord or QWord of the wrong length) as byte[].
    /// </summary>
    public object ToObject() => RegData.ToObject(Type, Data);
}

/// <summary>Conversions between registry data and .NET values.</summary>
public static class RegData
{
    public static object ToObject(int type, byte[] data)
    {
        switch (type)
        {
            case RegType.String:
            case RegType.ExpandString:
                return DecodeString(data);
            case RegType.MultiString:
                return DecodeMulti(data);
            case RegType.DWord when data.Length == 4:
                return BitConverter.ToInt32(data, 0);
            case RegType.QWord when data.Length == 8:
                return BitConverter.ToInt64(data, 0);
            default:
                return (byte[])data.Clone();
        }
    }

    /// <summary>UTF-16LE up to the first NUL (an odd last byte is ignored).</summary>
    public static string DecodeString(byte[] data)
    {
        string s = Encoding.Unicode.GetString(data, 0, data.Length & ~1);
        int nul = s.IndexOf('\0');
        return nul < 0 ? s : s.Substring(0, nul);
    }

    /// <summary>A REG_MULTI_SZ list: NUL-separated strings, the empty ones at the end (the terminator) dropped.</summary>
    public static string[] DecodeMulti(byte[] data)
    {
        string s = Encoding.Unicode.GetString(data, 0, data.Length & ~1);
        var parts = new List<string>(s.Split('\0'));
        while (parts.Count > 0 && parts[^1].Length == 0) parts.RemoveAt(parts.Count - 1);
        return parts.ToArray();
    }

    /// <summary>A string as REG_SZ data: UTF-16LE with its terminating NUL.</summary>
    public static byte[] EncodeString(string value) => Encoding.Unicode.GetBytes(value + "\0");

    /// <summary>A list as REG_MULTI_SZ data: each string NUL-terminated, then one more NUL.</summary>
    public static byte[] EncodeMulti(IEnumerable<string> values)
    {
        var sb = new StringBuilder();
        foreach (var v in values) sb.Append(v).Append('\0');
        sb.Append('\0');
        return Encoding.Unicode.GetBytes(sb.ToString());
    }

    public static byte[] EncodeDWord(int value) => BitConverter.GetBytes(value);

    public static byte[] EncodeQWord(long value) => BitConverter.GetBytes(value);

    /// <summary>
    /// Whether REG_SZ data is exactly one string and its terminating NUL, so that the
    /// "quoted" form of a .reg file gives back the same bytes.
    /// </summary>
    public static bool IsCleanString(byte[] data)
    {
        if (data.Length < 2 || (data.Length & 1) != 0) return false;
        if (data[^1] != 0 || data[^2] != 0) return false;
        for (int i = 0; i < data.Length - 2; i += 2)
            if (data[i] == 0 && data[i + 1] == 0) return false;
        string s = Encoding.Unicode.GetString(data, 0, data.Length - 2);
        // Lone surrogates do not survive the text file.
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return false;
        }
        return true;
    }
}

/// <summary>One step of a .reg file, in file order.</summary>
public abstract record RegOperation(int Line, string KeyPath);

/// <summary>[KEY] (create if missing) or [-KEY] (delete with everything under it).</summary>
public sealed record RegKeyOperation(int Line, string KeyPath, bool Delete) : RegOperation(Line, KeyPath);

/// <summary>"name"=data, or "name"=- (Data null: delete the value). Name "" is the default value (@).</summary>
public sealed record RegValueOperation(int Line, string KeyPath, string Name, int Type, byte[]? Data) : RegOperation(Line, KeyPath);

/// <summary>A .reg file that cannot be read; <see cref="Line"/> is 1-based.</summary>
public sealed class RegFormatException : FormatException
{
    public RegFormatException(int line, string message) : base($"line {line}: {message}")
    {
        Line = line;
        Reason = message;
    }

    public int Line { get; }

    public string Reason { get; }
}

/// <summary>
/// The text format of regedit and reg.exe: "Windows Registry Editor Version 5.00"
/// (UTF-16LE) or "REGEDIT4" (8-bit, where hex(2) and hex(7) hold 8-bit text),
/// [KEY] and [-KEY] sections, "name"= and @= values as "string", dword:, hex: and
/// hex(N): data with backslash line continuations, "name"=- deletions, ';' comments.
/// </summary>
public static class RegFile
{
    public const string Header5 = "Windows Registry Editor Version 5.00";
    public const string Header4 = "REGEDIT4";

    /// <summary>The text of a .reg file: UTF-16LE or UTF-8 by byte-order mark, else UTF-8 (Latin-1 when not valid UTF-8).</summary>
    public static string Decode(byte[] bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE) return Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2);
        if (bytes.Length >= 2 && bytes[0] == 0xFE && bytes[1] == 0xFF) return Encoding.BigEndianUnicode.GetString(bytes, 2, bytes.Length - 2);
        if (bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) return Encoding.UTF8.GetString(bytes, 3, bytes.Length - 3);
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { return Encoding.Latin1.GetString(bytes); }
    }

    /// <summary>Reads a whole file; throws <see cref="RegFormatException"/> on the first error, so nothing is half-applied.</summary>
    public static List<RegOperation> Parse(string text)
    {
        var ops = new List<RegOperation>();
        var lines = text.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n');
        int i = 0;
        // The header: the first line that is not blank.
        while (i < lines.Length && lines[i].Trim().Length == 0) i++;
        if (i == lines.Length) throw new RegFormatException(1, $"the file is empty; a .reg file starts with '{Header5}' or '{Header4}'");
        string header = lines[i].Trim().TrimStart('\uFEFF');
        bool v4;
        if (header == Header5) v4 = false;
        else if (header == Header4) v4 = true;
        else throw new RegFormatException(i + 1, $"expected '{Header5}' or '{Header4}', found '{Shorten(header)}'");
        i++;
        string? key = null;
        while (i < lines.Length)
        {
            int lineNo = i + 1;
            string line = lines[i].TrimStart(' ', '\t');
            i++;
            if (line.TrimEnd().Length == 0 || line.StartsWith(';')) continue;
            if (line.StartsWith('['))
            {
                string t = line.TrimEnd();
                if (!t.EndsWith(']')) throw new RegFormatException(lineNo, $"a key line must end with ']': '{Shorten(t)}'");
                string path = t.Substring(1, t.Length - 2);
                bool delete = path.StartsWith('-');
                if (delete) path = path.Substring(1);
                path = path.Trim();
                if (path.Length == 0 || path.Split('\\').Length == 0 || path.Contains("\\\\") || path.EndsWith('\\'))
                    throw new RegFormatException(lineNo, $"'{Shorten(t)}' does not name a key");
                ops.Add(new RegKeyOperation(lineNo, path, delete));
                key = delete ? null : path;
                continue;
            }
            if (line[0] != '"' && line[0] != '@')
                throw new RegFormatException(lineNo, $"expected [KEY], \"name\"=value or @=value, found '{Shorten(line.TrimEnd())}'");
            if (key is null)
                throw new RegFormatException(lineNo, "a value comes before any [KEY] line (or after a [-KEY] deletion)");
            // A value, joined with its continuation lines (each previous one ending in '\').
            var logical = new StringBuilder(line.TrimEnd());
            while (logical.Length > 0 && logical[^1] == '\\' && IsHexContinuation(logical))
            {
                logical.Length--;
                if (i >= lines.Length || lines[i].Trim().Length == 0)
                    throw new RegFormatException(lineNo, "the value continues ('\\' at the end of a line), but the next line is empty or missing");
                logical.Append(lines[i].Trim());
                i++;
            }
            ops.Add(ParseValue(logical.ToString(), lineNo, key, v4));
        }
        return ops;
    }

    // Only hex data continues on the next line; a quoted string ending in '\\' does not.
    private static bool IsHexContinuation(StringBuilder logical)
    {
        string s = logical.ToString();
        int eq = FindDataStart(s);
        return eq >= 0 && s.AsSpan(eq).TrimStart().StartsWith("hex", StringComparison.OrdinalIgnoreCase);
    }

    // Where the data begins: after the name and its '=' (or -1).
    private static int FindDataStart(string s)
    {
        int p;
        if (s[0] == '@') p = 1;
        else
        {
            p = 1;
            while (p < s.Length && s[p] != '"') p += s[p] == '\\' ? 2 : 1;
            if (p >= s.Length) return -1;
            p++;
        }
        while (p < s.Length && s[p] is ' ' or '\t') p++;
        return p < s.Length && s[p] == '=' ? p + 1 : -1;
    }

    private static RegValueOperation ParseValue(string s, int lineNo, string key, bool v4)
    {
        int p;
        string name;
        if (s[0] == '@')
        {
            name = "";
            p = 1;
        }
        else
        {
            (name, p) = ReadQuoted(s, 0, lineNo, "value name");
        }
        while (p < s.Length && s[p] is ' ' or '\t') p++;
        if (p >= s.Length || s[p] != '=') throw new RegFormatException(lineNo, $"expected '=' after the value name in '{Shorten(s)}'");
        p++;
        while (p < s.Length && s[p] is ' ' or '\t') p++;
        string rest = s.Substring(p);
        string shown = name.Length == 0 ? "@" : $"\"{name}\"";
        if (rest.TrimEnd() == "-") return new RegValueOperation(lineNo, key, name, RegType.None, null);
        if (rest.StartsWith('"'))
        {
            var (text, end) = ReadQuoted(rest, 0, lineNo, $"string of {shown}");
            string after = rest.Substring(end).Trim();
            if (after.Length > 0 && !after.StartsWith(';')) throw new RegFormatException(lineNo, $"unexpected '{Shorten(after)}' after the string of {shown}");
            return new RegValueOperation(lineNo, key, name, RegType.String, RegData.EncodeString(text));
        }
        if (rest.StartsWith("dword:", StringComparison.OrdinalIgnoreCase))
        {
            string digits = StripComment(rest.Substring(6)).Trim();
            if (digits.Length is 0 or > 8 || !uint.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint d))
                throw new RegFormatException(lineNo, $"dword: of {shown} needs 1 to 8 hexadecimal digits, found '{Shorten(digits)}'");
            return new RegValueOperation(lineNo, key, name, RegType.DWord, BitConverter.GetBytes(d));
        }
        if (rest.StartsWith("hex", StringComparison.OrdinalIgnoreCase))
        {
            int type = RegType.Binary;
            int q = 3;
            if (q < rest.Length && rest[q] == '(')
            {
                int close = rest.IndexOf(')', q);
                if (close < 0 || !int.TryParse(rest.AsSpan(q + 1, close - q - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out type) || type < 0)
                    throw new RegFormatException(lineNo, $"hex(N): of {shown} needs a hexadecimal type number N");
                q = close + 1;
            }
            if (q >= rest.Length || rest[q] != ':') throw new RegFormatException(lineNo, $"expected ':' after hex in {shown}");
            byte[] data = ParseHexBytes(StripComment(rest.Substring(q + 1)), lineNo, shown);
            if (v4 && type is RegType.String or RegType.ExpandString or RegType.MultiString)
            {
                // REGEDIT4 holds these as 8-bit text; the hive holds UTF-16LE.
                data = Encoding.Unicode.GetBytes(Encoding.Latin1.GetString(data));
            }
            return new RegValueOperation(lineNo, key, name, type, data);
        }
        throw new RegFormatException(lineNo, $"the data of {shown} must be \"string\", dword:, hex:, hex(N): or - (to delete), found '{Shorten(rest)}'");
    }

    private static string StripComment(string s)
    {
        int c = s.IndexOf(';');
        return c < 0 ? s : s.Substring(0, c);
    }

    private static byte[] ParseHexBytes(string s, int lineNo, string shown)
    {
        var list = new List<byte>();
        var parts = s.Split(',');
        for (int k = 0; k < parts.Length; k++)
        {
            string b = parts[k].Trim();
            if (b.Length == 0 && k == parts.Length - 1) break; // a trailing comma, or no data
            if (b.Length is 0 or > 2 || !byte.TryParse(b, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte v))
                throw new RegFormatException(lineNo, $"'{Shorten(b)}' in the hex data of {shown} is not a byte (two hexadecimal digits)");
            list.Add(v);
        }
        return list.ToArray();
    }

    // A "quoted" string at s[start] with \\ and \" escapes; returns the text and the index after the closing quote.
    private static (string Text, int End) ReadQuoted(string s, int start, int lineNo, string what)
    {
        var sb = new StringBuilder();
        int p = start + 1;
        while (p < s.Length)
        {
            char c = s[p];
            if (c == '"') return (sb.ToString(), p + 1);
            if (c == '\\' && p + 1 < s.Length)
            {
                char n = s[p + 1];
                if (n is '\\' or '"') { sb.Append(n); p += 2; continue; }
            }
            sb.Append(c);
            p++;
        }
        throw new RegFormatException(lineNo, $"the {what} has no closing '\"'");
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s.Substring(0, 57) + "...";

    // ------------------------------------------------------------ writing

    /// <summary>Writes what reg.exe export writes: the version line, then each key's section.</summary>
    public sealed class Writer
    {
        private readonly TextWriter _out;

        public Writer(TextWriter output)
        {
            _out = output;
            _out.NewLine = "\r\n";
            _out.WriteLine(Header5);
            _out.WriteLine();
        }

        public void WriteKey(string path, IEnumerable<RegValue> values)
        {
            _out.WriteLine("[" + path + "]");
            foreach (var v in values) _out.WriteLine(FormatValue(v));
            _out.WriteLine();
        }
    }

    /// <summary>The whole .reg file as bytes: UTF-16LE with its byte-order mark.</summary>
    public static byte[] ToBytes(string text)
    {
        var body = Encoding.Unicode.GetBytes(text);
        var all = new byte[body.Length + 2];
        all[0] = 0xFF;
        all[1] = 0xFE;
        body.CopyTo(all, 2);
        return all;
    }

    public static string EscapeString(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    /// <summary>One value as reg.exe writes it (hex data wrapped at 80 columns with '\' continuations).</summary>
    public static string FormatValue(RegValue v)
    {
        string head = (v.Name.Length == 0 ? "@" : "\"" + EscapeString(v.Name) + "\"") + "=";
        if (v.Type == RegType.String && RegData.IsCleanString(v.Data) && !RegData.DecodeString(v.Data).Contains('\n') && !RegData.DecodeString(v.Data).Contains('\r'))
            return head + "\"" + EscapeString(RegData.DecodeString(v.Data)) + "\"";
        if (v.Type == RegType.DWord && v.Data.Length == 4)
            return head + "dword:" + BitConverter.ToUInt32(v.Data, 0).ToString("x8", CultureInfo.InvariantCulture);
        string prefix = v.Type == RegType.Binary ? "hex:" : $"hex({v.Type.ToString("x", CultureInfo.InvariantCulture)}):";
        var sb = new StringBuilder(head + prefix);
        int lineStart = 0;
        for (int k = 0; k < v.Data.Length; k++)
        {
            sb.Append(v.Data[k].ToString("x2", CultureInfo.InvariantCulture));
            if (k == v.Data.Length - 1) break;
            sb.Append(',');
            if (sb.Length - lineStart >= 77)
            {
                sb.Append("\\\r\n  ");
                lineStart = sb.Length - 2;
            }
        }
        return sb.ToString();
    }
}
