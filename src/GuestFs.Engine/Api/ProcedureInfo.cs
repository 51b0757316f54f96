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
        bool deprecated, string? deprecatedBy, bool isInternal, bool isDebug, bool progress, string? group, string summary = "",
        bool isLibrary = false)
    {
        IsLibrary = isLibrary;
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
    /// <summary>One line on what a library-side call does; empty for daemon procedures (see guestfs(3) for those).</summary>
    public string Summary { get; }

    /// <summary>
    /// Answered by the library (GuestFs's engine, as libguestfs does) from
    /// daemon calls or qemu-img, not a guestfsd procedure; its number is 0.
    /// </summary>
    public bool IsLibrary { get; }
    /// <summary>"daemon" or "library".</summary>
    public string Side => IsLibrary ? "library" : "daemon";

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

    /// <summary>A daemon procedure or, failing that, a library-side call (<see cref="LibraryCatalog"/>).</summary>
    public static ProcedureInfo? FindAny(string name) => Find(name) ?? LibraryCatalog.Find(name);

    /// <summary>Daemon procedures and library-side calls together, sorted by name.</summary>
    public static IReadOnlyList<ProcedureInfo> AllWithLibrary =>
        s_allWithLibrary.Value;

    private static readonly Lazy<ProcedureInfo[]> s_allWithLibrary =
        new(() => s_all.Value.Concat(LibraryCatalog.All).OrderBy(p => p.Name, StringComparer.Ordinal).ToArray());
}
