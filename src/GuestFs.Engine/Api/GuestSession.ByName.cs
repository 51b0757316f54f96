using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Session;

public sealed partial class GuestSession
{
    /// <summary>
    /// Calls any daemon procedure by name with loosely typed arguments (as a
    /// shell passes them), checked against the procedure table first: unknown
    /// or missing arguments and values of the wrong kind are refused with an
    /// <see cref="ArgumentException"/> that names the call, the argument and
    /// the valid names — nothing is sent. A FileIn/FileOut argument is given as
    /// a <see cref="Stream"/>. Returns the decoded reply (null for RErr).
    /// </summary>
    public async Task<object?> InvokeByNameAsync(string name, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken = default)
    {
        var p = ProcedureCatalog.Find(name);
        if (p is null)
        {
            var lib = LibraryCatalog.Find(name) ?? throw UnknownProcedure(name);
            var handler = LibraryCatalog.HandlerFor(name)!;
            return await handler(this, CheckLibraryArguments(lib, arguments), cancellationToken).ConfigureAwait(false);
        }
        var (request, transfer) = BuildRequest(p, arguments);
        var decoder = DecoderFor(p);
        return await InvokeAsync(request, decoder, transfer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The same checks as <see cref="BuildRequest"/> for a library-side call; returns the converted values.</summary>
    public static IReadOnlyDictionary<string, object?> CheckLibraryArguments(ProcedureInfo p, IReadOnlyDictionary<string, object?> arguments)
    {
        var given = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var kv in arguments) given[kv.Key] = kv.Value;
        foreach (var key in given.Keys)
            if (!p.Arguments.Any(a => string.Equals(a.Name, key, StringComparison.OrdinalIgnoreCase)))
                throw new ArgumentException($"{p.Name} has no argument '{key}'; its arguments are: {Describe(p)}");
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var a in p.Arguments)
        {
            if (!given.TryGetValue(a.Name, out var v) || v is null)
                throw new ArgumentException($"{p.Name} needs the argument '{a.Name}' ({a.Type}); its arguments are: {Describe(p)}");
            values[a.Name] = Convert(p.Name, a.Name, a.Type, v);
        }
        return values;
    }

    private static ArgumentException UnknownProcedure(string name)
    {
        static string Squash(string s) => s.Replace("_", "").Replace("-", "").ToLowerInvariant();
        string want = Squash(name);
        var close = ProcedureCatalog.AllWithLibrary.Select(p => p.Name)
            .Select(n => (Name: n, Distance: want.Length >= 3 && Squash(n).Contains(want) ? 0 : EditDistance(Squash(n), want)))
            .Where(x => x.Distance <= Math.Max(1, want.Length / 4))
            .OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal)
            .Take(8).Select(x => x.Name).ToArray();
        return new ArgumentException($"'{name}' is not a guestfsd procedure or library call" +
            (close.Length > 0 ? $"; did you mean {string.Join(", ", close)}?" : "; Get-GuestFsApi lists them all"), nameof(name));
    }

    private static int EditDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 3) return int.MaxValue;
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>Validates and encodes; public for tests and for callers that want to check before calling.</summary>
    public static (RpcRequest Request, FileTransfer? Transfer) BuildRequest(ProcedureInfo p, IReadOnlyDictionary<string, object?> arguments)
    {
        var given = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var kv in arguments) given[kv.Key] = kv.Value;
        var known = p.Arguments.Select(a => a.Name).Concat(p.OptionalArguments.Select(o => o.Name)).ToList();
        foreach (var key in given.Keys)
            if (!known.Contains(key, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"{p.Name} has no argument '{key}'; its arguments are: {Describe(p)}");
        foreach (var a in p.Arguments)
            if (!given.ContainsKey(a.Name) || given[a.Name] is null)
                throw new ArgumentException($"{p.Name} needs the argument '{a.Name}' ({a.Type}); its arguments are: {Describe(p)}");

        FileTransfer? transfer = null;
        var values = new List<(string Type, object Value)>();
        foreach (var a in p.Arguments)
        {
            object v = given[a.Name]!;
            if (a.IsFileIn || a.IsFileOut)
            {
                if (v is not Stream s)
                    throw new ArgumentException($"{p.Name}: '{a.Name}' is a file transfer and needs a stream (Invoke-GuestFsApi takes a host path)");
                transfer = a.IsFileIn ? FileTransfer.Upload(s) : FileTransfer.Download(s);
                continue;
            }
            values.Add((a.Type, Convert(p.Name, a.Name, a.Type, v)));
        }
        ulong mask = 0;
        var opts = new List<(string Type, object? Value)>();
        foreach (var o in p.OptionalArguments)
        {
            if (given.TryGetValue(o.Name, out var v) && v is not null)
            {
                mask |= 1UL << o.Bit;
                opts.Add((o.Type, Convert(p.Name, o.Name, o.Type, v)));
            }
            else opts.Add((o.Type, null));
        }
        var request = new RpcRequest(p.Number, p.Name, mask, w =>
        {
            foreach (var (t, v) in values) Write(w, t, v);
            foreach (var (t, v) in opts) Write(w, t, v);
        });
        return (request, transfer);
    }

    private static string Describe(ProcedureInfo p) =>
        string.Join(", ", p.Arguments.Select(a => $"{a.Name} ({a.Type})").Concat(p.OptionalArguments.Select(o => $"[{o.Name} ({o.Type})]")))
        is { Length: > 0 } s ? s : "(none)";

    private static object Convert(string proc, string arg, string type, object v)
    {
        string Want(string what) => $"{proc}: '{arg}' must be {what}, not {v.GetType().Name} '{v}'";
        switch (type)
        {
            case "Bool":
            case "OBool":
                return v is bool b ? b : throw new ArgumentException(Want("a boolean ($true/$false)"));
            case "Int":
            case "OInt":
                return v switch
                {
                    int i => i,
                    long l when l is >= int.MinValue and <= int.MaxValue => (int)l,
                    short s => (int)s,
                    byte by => (int)by,
                    _ => throw new ArgumentException(Want("a 32-bit integer")),
                };
            case "Int64":
            case "OInt64":
                return v switch
                {
                    long l => l,
                    int i => (long)i,
                    short s => (long)s,
                    byte by => (long)by,
                    _ => throw new ArgumentException(Want("a 64-bit integer")),
                };
            case "BufferIn":
                return v switch
                {
                    byte[] bytes => bytes,
                    string s => System.Text.Encoding.UTF8.GetBytes(s),
                    _ => throw new ArgumentException(Want("bytes (byte[]) or text")),
                };
            case "OStringList":
                return ToStringList(v) ?? throw new ArgumentException(Want("a list of strings"));
            case "OptString":
            case "OString":
                return v is string os ? os : throw new ArgumentException(Want("a string"));
            default:
                if (type.StartsWith("StringList(", StringComparison.Ordinal))
                    return ToStringList(v) ?? throw new ArgumentException(Want("a list of strings"));
                return v is string str ? str : throw new ArgumentException(Want("a string"));
        }
    }

    private static string[]? ToStringList(object v)
    {
        if (v is string single) return new[] { single };
        if (v is IEnumerable e)
        {
            var list = new List<string>();
            foreach (var item in e)
            {
                if (item is not string s) return null;
                list.Add(s);
            }
            return list.ToArray();
        }
        return null;
    }

    private static void Write(XdrWriter w, string type, object? v)
    {
        switch (type)
        {
            case "Bool": w.WriteBool((bool)v!); break;
            case "OBool": w.WriteBool(v is bool b && b); break;
            case "Int": w.WriteInt32((int)v!); break;
            case "OInt": w.WriteInt32(v is int i ? i : 0); break;
            case "Int64": w.WriteInt64((long)v!); break;
            case "OInt64": w.WriteInt64(v is long l ? l : 0); break;
            case "BufferIn": w.WriteOpaque((byte[])v!); break;
            case "OptString": w.WriteOptionalString((string?)v); break;
            case "OString": w.WriteString((string?)v ?? ""); break;
            case "OStringList": w.WriteStringArray((string[]?)v); break;
            default:
                if (type.StartsWith("StringList(", StringComparison.Ordinal)) w.WriteStringArray((string[])v!);
                else w.WriteString((string)v!);
                break;
        }
    }

    private static ReplyDecoder<object?> DecoderFor(ProcedureInfo p)
    {
        string kind = p.ReturnType.Contains('(') ? p.ReturnType[..p.ReturnType.IndexOf('(')] : p.ReturnType;
        string? structName = p.ReturnType.Contains('(') ? p.ReturnType[(p.ReturnType.IndexOf('(') + 1)..^1] : null;
        return kind switch
        {
            "RErr" => static (ref XdrReader r) => null,
            "RInt" => static (ref XdrReader r) => r.ReadInt32(),
            "RInt64" => static (ref XdrReader r) => r.ReadInt64(),
            "RBool" => static (ref XdrReader r) => r.ReadBool(),
            "RString" or "RConstString" or "RConstOptString" => static (ref XdrReader r) => r.ReadString(),
            "RStringList" => static (ref XdrReader r) => r.ReadStringArray(),
            "RHashtable" => static (ref XdrReader r) => XdrDecoders.Pairs(ref r),
            "RBufferOut" => static (ref XdrReader r) => r.ReadOpaque(),
            "RStruct" => Wrap(StructDecoders.Single(structName!) ?? throw new InvalidOperationException($"no decoder for struct {structName}")),
            "RStructList" => Wrap(StructDecoders.List(structName!) ?? throw new InvalidOperationException($"no decoder for struct {structName}")),
            _ => throw new InvalidOperationException($"{p.Name}: unknown return type {p.ReturnType}"),
        };
    }

    private static ReplyDecoder<object?> Wrap(ReplyDecoder<object> d) => (ref XdrReader r) => d(ref r);
}
