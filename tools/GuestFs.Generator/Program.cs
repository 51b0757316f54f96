using System;
using System.IO;
using GuestFs.Generator;

// Usage:
//   GuestFs.Generator [--api <dir>]             regenerate the *.g.cs files from the tables
//   GuestFs.Generator [--api <dir>] --check     exit 1 if the committed *.g.cs differ from the tables
//   GuestFs.Generator [--api <dir>] --import <procedures.json>
//                                               (re)create the tables from the facts sheet
string api = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../src/GuestFs.Engine/Api"));
bool check = false;
string? import = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--api": api = Path.GetFullPath(args[++i]); break;
        case "--check": check = true; break;
        case "--import": import = Path.GetFullPath(args[++i]); break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
if (import is not null)
{
    Importer.WriteTables(import, api);
    Console.WriteLine($"tables written to {api}");
}
var files = Generator.GenerateFromDirectory(api);
int stale = 0;
foreach (var (name, content) in files)
{
    string path = Path.Combine(api, name);
    bool same = File.Exists(path) && File.ReadAllText(path) == content;
    if (check)
    {
        if (!same) { Console.Error.WriteLine($"{path} is out of date with the tables"); stale++; }
        continue;
    }
    if (!same) File.WriteAllText(path, content);
    Console.WriteLine($"{(same ? "unchanged" : "written")}: {path}");
}
return stale == 0 ? 0 : 1;
