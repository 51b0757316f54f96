using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace GuestFs.Generator;

/// <summary>One argument or optional argument: generator type (String(Device), OInt …) and name.</summary>
public sealed record Param(string Type, string Name)
{
    /// <summary>String(FileIn) / String(FileOut): travels as chunks, not in the args struct.</summary>
    public bool IsFileIn => Type == "String(FileIn)";
    public bool IsFileOut => Type == "String(FileOut)";
}

public sealed record Procedure(int Number, string Name, string Return, IReadOnlyList<Param> Args, IReadOnlyList<Param> Optargs,
    IReadOnlyDictionary<string, string> Flags)
{
    public bool Deprecated => Flags.ContainsKey("deprecated");
    public string? DeprecatedBy => Flags.TryGetValue("deprecated", out var v) && v.Length > 0 ? v : null;
    public bool Internal => Flags.ContainsKey("internal");
    /// <summary>Debugging aids (debug, debug_upload, internal_exit): callable, not for normal use.</summary>
    public bool Debug => Flags.ContainsKey("debug");
    public string? Group => Flags.TryGetValue("group", out var g) ? g : null;
    public bool FileIn => Args.Any(a => a.IsFileIn);
    public bool FileOut => Args.Any(a => a.IsFileOut);
    public bool Progress => Flags.ContainsKey("progress");

    /// <summary>RStruct(statns) → "statns"; otherwise null.</summary>
    public string? StructName => Return.Contains('(') ? Return[(Return.IndexOf('(') + 1)..^1] : null;
    public string ReturnKind => Return.Contains('(') ? Return[..Return.IndexOf('(')] : Return;
}

/// <summary>A library-side call: its signature (number 0, no optargs) and one-line summary.</summary>
public sealed record LibraryCall(Procedure Signature, string Summary);

public sealed record StructField(string Type, string Name);
public sealed record StructDef(string Name, IReadOnlyList<StructField> Fields);

/// <summary>
/// Reads and writes our two tables. procedures.table, one procedure a line:
///   number | name | return | args | optargs | flags
/// args and optargs are "Type name" items separated by ", "; flags are
/// "key" or "key=value" items separated by spaces. structs.table:
///   name | Type field, Type field, …
/// Lines starting with '#' are comments.
/// </summary>
public static class Tables
{
    public static List<Procedure> ReadProcedures(string path)
    {
        var list = new List<Procedure>();
        int lineNo = 0;
        foreach (var raw in File.ReadAllLines(path))
        {
            lineNo++;
            if (raw.Length == 0 || raw.StartsWith('#')) continue;
            var f = raw.Split(" | ");
            if (f.Length != 6) throw new FormatException($"{path}:{lineNo}: expected 6 fields separated by ' | '");
            var flags = new Dictionary<string, string>();
            foreach (var item in f[5].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = item.IndexOf('=');
                if (eq < 0) flags[item] = ""; else flags[item[..eq]] = item[(eq + 1)..];
            }
            list.Add(new Procedure(int.Parse(f[0].Trim()), f[1].Trim(), f[2].Trim(), ParseParams(f[3]), ParseParams(f[4]), flags));
        }
        return list;
    }

    private static List<Param> ParseParams(string s) =>
        s.Split(", ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
         .Select(p => { int sp = p.LastIndexOf(' '); return new Param(p[..sp], p[(sp + 1)..]); }).ToList();

    /// <summary>
    /// library.table, one library-side call a line:
    ///   name | return | args | flags | summary
    /// args and flags as in procedures.table (flags: deprecated=&lt;call&gt;, group=&lt;feature&gt;).
    /// Each call is implemented by LibraryCalls.&lt;Pascal name&gt;Async in the engine.
    /// </summary>
    public static List<LibraryCall> ReadLibrary(string path)
    {
        var list = new List<LibraryCall>();
        if (!File.Exists(path)) return list;
        int lineNo = 0;
        foreach (var raw in File.ReadAllLines(path))
        {
            lineNo++;
            if (raw.Length == 0 || raw.StartsWith('#')) continue;
            var f = raw.Split(" | ");
            if (f.Length != 5) throw new FormatException($"{path}:{lineNo}: expected 5 fields separated by ' | ' (name | return | args | flags | summary)");
            var flags = new Dictionary<string, string>();
            foreach (var item in f[3].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = item.IndexOf('=');
                if (eq < 0) flags[item] = ""; else flags[item[..eq]] = item[(eq + 1)..];
            }
            list.Add(new LibraryCall(new Procedure(0, f[0].Trim(), f[1].Trim(), ParseParams(f[2]), Array.Empty<Param>(), flags), f[4].Trim()));
        }
        return list;
    }

    public static List<StructDef> ReadStructs(string path)
    {
        var list = new List<StructDef>();
        foreach (var raw in File.ReadAllLines(path))
        {
            if (raw.Length == 0 || raw.StartsWith('#')) continue;
            var f = raw.Split(" | ");
            list.Add(new StructDef(f[0].Trim(), f[1].Split(", ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(p => { int sp = p.IndexOf(' '); return new StructField(p[..sp], p[(sp + 1)..]); }).ToList()));
        }
        return list;
    }

    /// <summary>summaries.table: "name | one-line summary" (optional file; empty when absent).</summary>
    public static Dictionary<string, string> ReadSummaries(string path)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path)) return d;
        foreach (var raw in File.ReadAllLines(path))
        {
            if (raw.Length == 0 || raw.StartsWith('#')) continue;
            int bar = raw.IndexOf(" | ", StringComparison.Ordinal);
            if (bar < 0) throw new FormatException($"{path}: '{raw}' is not 'name | summary'");
            d[raw[..bar].Trim()] = raw[(bar + 3)..].Trim();
        }
        return d;
    }

    public static string FormatProcedure(Procedure p) =>
        $"{p.Number} | {p.Name} | {p.Return} | {string.Join(", ", p.Args.Select(a => $"{a.Type} {a.Name}"))} | " +
        $"{string.Join(", ", p.Optargs.Select(a => $"{a.Type} {a.Name}"))} | " +
        string.Join(" ", p.Flags.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => k.Value.Length == 0 ? k.Key : $"{k.Key}={k.Value}"));
}
