using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;
using GuestFs.Generator;
using GuestFs.Tests.Wire;
using Xunit;

namespace GuestFs.Tests.Api;

public sealed class ProcedureTableTests
{
    internal static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "GuestFs.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    internal static string ApiDir => Path.Combine(RepoRoot(), "src/GuestFs.Engine/Api");
    internal static List<Procedure> Procs => Tables.ReadProcedures(Path.Combine(ApiDir, "procedures.table"));
    internal static List<StructDef> Structs => Tables.ReadStructs(Path.Combine(ApiDir, "structs.table"));

    [Fact]
    public void The_table_is_complete_and_consistent()
    {
        var procs = Procs;
        Assert.Equal(492, procs.Count);
        Assert.Equal(procs.Count, procs.Select(p => p.Number).Distinct().Count());
        Assert.Equal(procs.Count, procs.Select(p => p.Name).Distinct().Count());
        Assert.InRange(procs.Min(p => p.Number), 1, 1);
        Assert.Equal(510, procs.Max(p => p.Number));
        Generator.Generator.Validate(procs, Structs);
        Assert.Equal(27, Structs.Count);
    }

    [Fact]
    public void The_committed_generated_code_matches_the_tables()
    {
        foreach (var (name, content) in Generator.Generator.GenerateFromDirectory(ApiDir))
            Assert.True(File.ReadAllText(Path.Combine(ApiDir, name)) == content,
                $"{name} is out of date with the tables: run ./build.ps1 -Task Generate");
    }

    [Fact]
    public void The_table_agrees_with_the_facts_sheet()
    {
        string json = Path.Combine(RepoRoot(), "..", "shared", "protocol", "procedures.json");
        Assert.True(File.Exists(json), $"the facts sheet {json} is missing: it lives in shared/protocol beside the repository (CI lays it there)");
        var (facts, structs) = Importer.Read(json);
        var ours = Procs.ToDictionary(p => p.Name);
        Assert.Equal(facts.Count, ours.Count);
        foreach (var f in facts)
        {
            Assert.True(ours.TryGetValue(f.Name, out var o), $"{f.Name} is missing from the table");
            Assert.Equal(f.Number, o!.Number);
            Assert.Equal(f.Return, o.Return);
            Assert.Equal(f.Args, o.Args);
            Assert.Equal(f.Optargs, o.Optargs);
            Assert.Equal(f.Deprecated, o.Deprecated);
            Assert.Equal(f.Internal, o.Internal);
            Assert.Equal(f.Debug, o.Debug);
            Assert.Equal(f.Group, o.Group);
        }
        Assert.Equal(structs.Select(s => (s.Name, string.Join(",", s.Fields.Select(x => x.Type + " " + x.Name)))),
            Structs.Select(s => (s.Name, string.Join(",", s.Fields.Select(x => x.Type + " " + x.Name)))));
    }

    [Fact]
    public void The_catalog_describes_every_procedure()
    {
        Assert.Equal(492, ProcedureCatalog.All.Count);
        var mkfs = ProcedureCatalog.Find("mkfs")!;
        Assert.Equal(278, mkfs.Number);
        Assert.Equal(new[] { "blocksize", "features", "inode", "sectorsize", "label" }, mkfs.OptionalArguments.Select(o => o.Name));
        Assert.Equal(4, mkfs.OptionalArguments.Single(o => o.Name == "label").Bit);
        Assert.True(ProcedureCatalog.Find("tar_out")!.FileOut);
        Assert.True(ProcedureCatalog.Find("upload")!.FileIn);
        Assert.True(ProcedureCatalog.Find("internal_lstatnslist")!.IsInternal);
        Assert.Equal(new[] { "debug", "debug_upload", "internal_exit" }, ProcedureCatalog.All.Where(p => p.IsDebug).Select(p => p.Name).OrderBy(n => n));
        Assert.Null(ProcedureCatalog.Find("no_such_call"));
    }

    [Fact]
    public void Deprecated_calls_are_marked_obsolete()
    {
        foreach (var p in Procs.Where(p => p.Deprecated))
        {
            var m = typeof(GuestSession).GetMethod(Generator.Generator.Pascal(p.Name) + "Async")!;
            Assert.NotNull(m.GetCustomAttribute<ObsoleteAttribute>());
        }
    }
}

/// <summary>
/// Every one of the 492 generated calls, made through a session attached to
/// the fake daemon: the request must carry the right number, name, optargs
/// bitmask and an args struct that decodes exactly per the table; a synthetic
/// reply of the declared return type (structs included) must decode.
/// </summary>
public sealed class GeneratedCallTests
{
    private static object? Sample(Type t, string name) => t switch
    {
        _ when t == typeof(string) => "/dev/sda1",
        _ when t == typeof(int) => 7,
        _ when t == typeof(long) => 9L,
        _ when t == typeof(bool) => true,
        _ when t == typeof(ReadOnlyMemory<byte>) => new ReadOnlyMemory<byte>(new byte[] { 1, 2, 3 }),
        _ when t == typeof(IReadOnlyList<string>) => new[] { "a", "bb" },
        _ when t == typeof(Stream) => new MemoryStream(new byte[] { 42 }),
        _ => throw new NotSupportedException($"{name}: {t}"),
    };

    private static void CheckArgs(Procedure p, byte[] args, ulong mask, bool withOptargs)
    {
        var r = new XdrReader(args);
        foreach (var a in p.Args.Where(a => !a.IsFileIn && !a.IsFileOut))
        {
            switch (a.Type)
            {
                case "Int": Assert.Equal(7, r.ReadInt32()); break;
                case "Int64": Assert.Equal(9L, r.ReadInt64()); break;
                case "Bool": Assert.True(r.ReadBool()); break;
                case "BufferIn": Assert.Equal(new byte[] { 1, 2, 3 }, r.ReadOpaque()); break;
                case "OptString": Assert.Equal("/dev/sda1", r.ReadOptionalString()); break;
                default:
                    if (a.Type.StartsWith("StringList(")) Assert.Equal(new[] { "a", "bb" }, r.ReadStringArray());
                    else Assert.Equal("/dev/sda1", r.ReadString());
                    break;
            }
        }
        for (int i = 0; i < p.Optargs.Count; i++)
        {
            var o = p.Optargs[i];
            Assert.Equal(withOptargs, (mask & (1UL << i)) != 0);
            switch (o.Type)
            {
                case "OInt": Assert.Equal(withOptargs ? 7 : 0, r.ReadInt32()); break;
                case "OInt64": Assert.Equal(withOptargs ? 9L : 0L, r.ReadInt64()); break;
                case "OBool": Assert.Equal(withOptargs, r.ReadBool()); break;
                case "OString": Assert.Equal(withOptargs ? "/dev/sda1" : "", r.ReadString()); break;
                case "OStringList": Assert.Equal(withOptargs ? new[] { "a", "bb" } : Array.Empty<string>(), r.ReadStringArray()); break;
            }
        }
        r.EnsureAtEnd($"{p.Name} args");
    }

    private static void WriteSample(XdrWriter w, string type, Dictionary<string, StructDef> structs)
    {
        switch (type)
        {
            case "RErr": break;
            case "RInt": w.WriteInt32(5); break;
            case "RInt64": w.WriteInt64(5); break;
            case "RBool": w.WriteBool(true); break;
            case "RString": case "RConstString": case "RConstOptString": w.WriteString("ok"); break;
            case "RStringList": w.WriteStringArray(new[] { "x", "y" }); break;
            case "RHashtable": w.WriteStringArray(new[] { "k", "v" }); break;
            case "RBufferOut": w.WriteOpaque(new byte[] { 9 }); break;
            default:
                bool list = type.StartsWith("RStructList(");
                var s = structs[type[(type.IndexOf('(') + 1)..^1]];
                if (list) w.WriteUInt32(2);
                for (int n = 0; n < (list ? 2 : 1); n++)
                    foreach (var f in s.Fields)
                        switch (f.Type)
                        {
                            case "FString": w.WriteString("s"); break;
                            case "FBuffer": w.WriteOpaque(new byte[] { 1 }); break;
                            case "FUUID": w.WriteFixedOpaque(new byte[32]); break;
                            case "FInt32": case "FUInt32": case "FChar": w.WriteInt32(65); break;
                            case "FInt64": case "FUInt64": case "FBytes": w.WriteInt64(3); break;
                            case "FOptPercent": w.WriteSingle(-1f); break;
                        }
                break;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_generated_call_encodes_its_request_and_decodes_its_reply(bool withOptargs)
    {
        var procs = ProcedureTableTests.Procs;
        var structs = ProcedureTableTests.Structs.ToDictionary(s => s.Name);
        var byNumber = procs.ToDictionary(p => p.Number);
        await using var daemon = new FakeDaemon();
        foreach (var p in procs)
        {
            daemon.Handlers[p.Number] = async (req, d) =>
            {
                if (p.FileIn)
                {
                    var (data, cancelled) = await d.ReceiveFileAsync();
                    Assert.False(cancelled);
                    Assert.Equal(new byte[] { 42 }, data);
                }
                await d.SendReplyAsync(req, new FakeDaemon.Ok(w => WriteSample(w, p.Return, structs)));
                if (p.FileOut) await d.SendFileAsync(new byte[] { 5, 6 });
                return new FakeDaemon.None();
            };
        }
        daemon.Start(sendLaunchFlag: false);
        using var session = new GuestSession(new GuestSessionOptions());
        session.AttachForTesting(daemon.LibrarySide);

        foreach (var p in procs)
        {
            var m = typeof(GuestSession).GetMethod(Generator.Generator.Pascal(p.Name) + "Async")!;
            var ps = m.GetParameters();
            var args = new object?[ps.Length];
            for (int i = 0; i < ps.Length; i++)
            {
                var t = ps[i].ParameterType;
                if (t == typeof(CancellationToken)) { args[i] = CancellationToken.None; continue; }
                bool optional = ps[i].HasDefaultValue;
                var under = Nullable.GetUnderlyingType(t) ?? t;
                if (t == typeof(Stream) && p.FileOut) { args[i] = new MemoryStream(); continue; }
                args[i] = optional && !withOptargs ? null : Sample(under, $"{p.Name}.{ps[i].Name}");
            }
            var task = (Task)m.Invoke(session, args)!;
            await task.WaitAsync(TimeSpan.FromSeconds(10));
            var req = daemon.Requests[^1];
            Assert.Equal(p.Number, req.Header.Procedure);
            CheckArgs(p, req.Args, req.Header.OptargsBitmask, withOptargs);
            if (p.FileOut)
                Assert.Equal(new byte[] { 5, 6 }, ((MemoryStream)args.Single(a => a is MemoryStream { CanWrite: true } ms && ms.Length == 2)!).ToArray());
            if (p.ReturnKind is "RStruct" or "RStructList")
            {
                object? result = task.GetType().GetProperty("Result")!.GetValue(task);
                Assert.NotNull(result);
                if (result is Array a) Assert.Equal(2, a.Length);
            }
        }
        Assert.Equal(procs.Count, daemon.Requests.Count);
    }
}
