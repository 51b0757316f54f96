using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace GuestFs.Generator;

/// <summary>
/// One-off import of the facts in shared/protocol/procedures.json into our
/// tables; after that the tables are the source of truth (edited by hand when
/// the daemon changes) and the JSON only serves to check them.
/// </summary>
public static class Importer
{
    public static (List<Procedure> Procedures, List<StructDef> Structs) Read(string jsonPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        var procs = new List<Procedure>();
        foreach (var p in doc.RootElement.GetProperty("procedures").EnumerateArray())
        {
            var ret = p.GetProperty("ret");
            string r = ret.GetProperty("kind").GetString()!;
            if (ret.TryGetProperty("struct", out var st) && st.ValueKind == JsonValueKind.String) r += $"({st.GetString()})";
            var args = p.GetProperty("args").EnumerateArray().Select(a => new Param(a.GetProperty("type").GetString()!, a.GetProperty("name").GetString()!)).ToList();
            var opt = p.GetProperty("optargs").EnumerateArray().Select(a => new Param(a.GetProperty("type").GetString()!, a.GetProperty("name").GetString()!)).ToList();
            var fl = p.GetProperty("flags");
            var flags = new Dictionary<string, string>();
            if (fl.GetProperty("deprecated").GetBoolean())
                flags["deprecated"] = fl.GetProperty("deprecated_by") is { ValueKind: JsonValueKind.String } by ? by.GetString()! : "";
            if (fl.GetProperty("internal").GetBoolean()) flags["internal"] = "";
            if (fl.GetProperty("visibility").GetString() == "debug") flags["debug"] = "";
            if (fl.GetProperty("progress").GetBoolean() || fl.GetProperty("progress_in_daemon_code").GetBoolean()) flags["progress"] = "";
            if (fl.GetProperty("optional_group") is { ValueKind: JsonValueKind.String } g) flags["group"] = g.GetString()!;
            if (fl.GetProperty("cancellable").GetBoolean()) flags["cancellable"] = "";
            procs.Add(new Procedure(p.GetProperty("proc_nr").GetInt32(), p.GetProperty("name").GetString()!, r, args, opt, flags));
        }
        var structs = doc.RootElement.GetProperty("structs").EnumerateArray()
            .Select(s => new StructDef(s.GetProperty("name").GetString()!,
                s.GetProperty("fields").EnumerateArray().Select(f => new StructField(f.GetProperty("type").GetString()!, f.GetProperty("name").GetString()!)).ToList()))
            .ToList();
        return (procs.OrderBy(p => p.Number).ToList(), structs);
    }

    public static void WriteTables(string jsonPath, string apiDir)
    {
        var (procs, structs) = Read(jsonPath);
        var sb = new StringBuilder();
        sb.Append("# The guestfsd 1.48.6 procedures: the one table the typed API is generated from.\n");
        sb.Append("# number | name | return | args | optargs | flags   (see tools/GuestFs.Generator/Tables.cs)\n");
        foreach (var p in procs) sb.Append(Tables.FormatProcedure(p)).Append('\n');
        File.WriteAllText(Path.Combine(apiDir, "procedures.table"), sb.ToString());
        sb.Clear();
        sb.Append("# The structs the daemon returns (XDR: fields back to back).\n# name | Type field, Type field, ...\n");
        foreach (var s in structs) sb.Append(s.Name).Append(" | ").Append(string.Join(", ", s.Fields.Select(f => $"{f.Type} {f.Name}"))).Append('\n');
        File.WriteAllText(Path.Combine(apiDir, "structs.table"), sb.ToString());
    }
}
