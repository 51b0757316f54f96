using System;
using System.Collections.Generic;
using System.Linq;

namespace GuestFs.Engine.Api;

/// <summary>A required argument of a daemon procedure, with its generator type (String(Device), Int, FileIn …).</summary>
public sealed record ArgumentInfo(string Name, string Type)
{
    public bool IsFileIn => Type == "String(FileIn)";
    public bool IsFileOut => Type == "String(FileOut)";
}

/// <summary>An optional argument and its bit in the optargs bitmask.</summary>
public sealed record OptionalArgumentInfo(string Name, string Type, int Bit);

/// <summary>What the procedure table says about one daemon procedure.</summary>
public sealed class ProcedureInfo
{
    public ProcedureInfo(int number, string name, string returnType, ArgumentInfo[] arguments, OptionalArgumentInfo[] optionalArguments,
        bool deprecated, string? deprecatedBy, bool isInternal, bool isDebug, bool progress, string? group, string summary = "")
    {
        IsDebug = isDebug;
        Summary = summary;
        Number = number; Name = name; ReturnType = returnType; Arguments = arguments; OptionalArguments = optionalArguments;
        Deprecated = deprecated; DeprecatedBy = deprecatedBy; IsInternal = isInternal; Progress = progress; Group = group;
    }

    public int Number { get; }
    public string Name { get; }
    /// <summary>RErr, RInt, RString, RStruct(statns) …</summary>
    public string ReturnType { get; }
    public IReadOnlyList<ArgumentInfo> Arguments { get; }
    public IReadOnlyList<OptionalArgumentInfo> OptionalArguments { get; }
    public bool Deprecated { get; }
    public string? DeprecatedBy { get; }
    public bool IsInternal { get; }
    /// <summary>A debugging aid of the daemon (debug, debug_upload, internal_exit).</summary>
    public bool IsDebug { get; }
    /// <summary>The daemon may send progress messages for it.</summary>
    public bool Progress { get; }
    /// <summary>The optional feature group it needs, if any.</summary>
    public string? Group { get; }
    /// <summary>One line on what the call does (ours, from summaries.table).</summary>
    public string Summary { get; }

    public bool FileIn => Arguments.Any(a => a.IsFileIn);
    public bool FileOut => Arguments.Any(a => a.IsFileOut);

    public override string ToString() => $"{Name} ({Number})";
}

/// <summary>Every daemon procedure, by name and by number.</summary>
public static partial class ProcedureCatalog
{
    private static readonly Lazy<ProcedureInfo[]> s_all = new(Build);
    private static readonly Lazy<Dictionary<string, ProcedureInfo>> s_byName =
        new(() => s_all.Value.ToDictionary(p => p.Name, StringComparer.Ordinal));

    public static IReadOnlyList<ProcedureInfo> All => s_all.Value;

    public static ProcedureInfo? Find(string name) => s_byName.Value.TryGetValue(name, out var p) ? p : null;
}
