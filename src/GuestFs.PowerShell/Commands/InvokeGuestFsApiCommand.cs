using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.IO;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Api;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// Calls any guestfsd procedure by name. Arguments come from -Arguments (a
/// hashtable) or as parameters named after the call's own arguments (they
/// appear once -Name is given, with tab completion). A FileIn or FileOut
/// argument takes a host path.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "GuestFsApi", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(object))]
public sealed class InvokeGuestFsApiCommand : GuestCmdlet, IDynamicParameters
{
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(ProcedureNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>Argument name → value; names are the daemon's (see Get-GuestFsApi).</summary>
    [Parameter]
    public Hashtable? Arguments { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>
    /// The daemon argument "c" (fill, fill_pattern …). PowerShell binds named
    /// arguments before it asks for the call's own parameters, so a dynamic -c
    /// would lose to -Confirm by abbreviation; an exact static name wins. Its
    /// positional twin is the dynamic -ArgC.
    /// </summary>
    [Parameter(DontShow = true)]
    public object? C { get; set; }

    private const string RestName = "UnboundArguments";
    private RuntimeDefinedParameterDictionary? _dynamic;
    private readonly Dictionary<string, string> _dynamicToArg = new(StringComparer.OrdinalIgnoreCase);

    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "Name", "Arguments", "Disk", "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction",
        "ErrorVariable", "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
        "C",
    };

    /// <summary>Parameter name used for a daemon argument (prefixed when it would clash with ours).</summary>
    internal static string ParameterNameFor(string arg) => Reserved.Contains(arg) ? "Arg" + char.ToUpperInvariant(arg[0]) + arg[1..] : arg;

    public object? GetDynamicParameters()
    {
        // No name yet (Get-Command, Get-Help, tab completion before the name): no extra parameters.
        if (string.IsNullOrEmpty(Name)) return null;
        var p = ProcedureCatalog.FindAny(Name);
        _dynamic = new RuntimeDefinedParameterDictionary();
        _dynamicToArg.Clear();
        if (p is null)
        {
            // Not a call (often: -name <value> bound to our -Name): take the rest, so that
            // ProcessRecord can say what went wrong instead of a positional-parameter error.
            var rest = new ParameterAttribute { ValueFromRemainingArguments = true, DontShow = true };
            _dynamic.Add(RestName, new RuntimeDefinedParameter(RestName, typeof(object[]), new System.Collections.ObjectModel.Collection<Attribute> { rest }));
            return _dynamic;
        }
        int position = 1;
        void Add(string arg, string type, bool optional)
        {
            string pname = ParameterNameFor(arg);
            // Required arguments follow -Name by position, in the daemon's order.
            var pa = new ParameterAttribute { Mandatory = false };
            if (!optional) pa.Position = position++;
            var attrs = new System.Collections.ObjectModel.Collection<Attribute> { pa };
            _dynamic.Add(pname, new RuntimeDefinedParameter(pname, ClrType(type), attrs));
            _dynamicToArg[pname] = arg;
        }
        foreach (var a in p.Arguments) Add(a.Name, a.Type, false);
        foreach (var o in p.OptionalArguments) Add(o.Name, o.Type, true);
        return _dynamic;
    }

    private static Type ClrType(string t) => t switch
    {
        "Bool" or "OBool" => typeof(bool),
        "Int" or "OInt" => typeof(int),
        "Int64" or "OInt64" => typeof(long),
        "BufferIn" => typeof(byte[]),
        "OStringList" => typeof(string[]),
        _ when t.StartsWith("StringList(", StringComparison.Ordinal) => typeof(string[]),
        _ => typeof(string),
    };

    protected override void ProcessRecord()
    {
        var p = ProcedureCatalog.FindAny(Name);
        if (p is null && _dynamic is not null && _dynamic.TryGetValue(RestName, out var restParam) && restParam.Value is object[] rest)
        {
            // "Invoke-GuestFsApi hivex_node_get_child -nodeh $n -name $k": -name is our -Name,
            // so the call's name arrived as a stray positional argument.
            var called = rest.Select(x => x is PSObject po ? po.BaseObject : x).OfType<string>().Select(ProcedureCatalog.FindAny).FirstOrDefault(x => x is not null);
            if (called is not null)
            {
                bool hasName = called.Arguments.Any(a => a.Name.Equals("name", StringComparison.OrdinalIgnoreCase)) || called.OptionalArguments.Any(a => a.Name.Equals("name", StringComparison.OrdinalIgnoreCase));
                ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                    $"-Name is Invoke-GuestFsApi's own parameter (the call's name), so '{Name}' was taken as the call and '{called.Name}' was left over. " +
                    (hasName ? $"Pass {called.Name}'s argument 'name' as -ArgName: Invoke-GuestFsApi {called.Name} … -ArgName {Name}" : "Give the call's name first: Invoke-GuestFsApi " + called.Name + " …") +
                    " (arguments whose names clash with Invoke-GuestFsApi's own parameters take the prefix Arg; Get-Help Invoke-GuestFsApi)."),
                    "ArgumentNameIsCommandParameter", ErrorCategory.InvalidArgument, Name));
                return;
            }
        }
        if (p is null)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{Name}' is not a guestfsd procedure or library call; Get-GuestFsApi lists them (Get-GuestFsApi *{Name}*)."),
                "UnknownProcedure", ErrorCategory.InvalidArgument, Name));
            return;
        }
        var disk = ResolveDisk(Disk);
        var args = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        if (Arguments is not null)
            foreach (DictionaryEntry e in Arguments)
                args[e.Key.ToString()!] = e.Value is PSObject po ? po.BaseObject : e.Value;
        if (MyInvocation.BoundParameters.ContainsKey(nameof(C)))
        {
            if (!p.Arguments.Any(a => a.Name == "c") && !p.OptionalArguments.Any(a => a.Name == "c"))
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"{p.Name} has no argument 'c'. For PowerShell's confirmation prompt write -Confirm (or -cf)."),
                    "UnknownApiArgument", ErrorCategory.InvalidArgument, "c"));
                return;
            }
            if (_dynamic is not null && _dynamic.TryGetValue(ParameterNameFor("c"), out var twin) && twin.IsSet)
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException("'c' is given twice: as -c and as -ArgC (or by position)."),
                    "ArgumentGivenTwice", ErrorCategory.InvalidArgument, "c"));
                return;
            }
            args["c"] = C is PSObject cpo ? cpo.BaseObject : C;
        }
        if (_dynamic is not null)
            foreach (var (pname, rp) in _dynamic)
                if (rp.IsSet && pname != RestName)
                {
                    if (args.ContainsKey(_dynamicToArg[pname]))
                    {
                        ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{_dynamicToArg[pname]}' is given twice: as -{pname} and in -Arguments."),
                            "ArgumentGivenTwice", ErrorCategory.InvalidArgument, pname));
                    }
                    args[_dynamicToArg[pname]] = rp.Value is PSObject po ? po.BaseObject : rp.Value;
                }
        // Unwrap PowerShell arrays of PSObjects into plain values.
        foreach (var k in args.Keys.ToList())
            if (args[k] is object[] arr) args[k] = arr.Select(x => x is PSObject po ? po.BaseObject : x).ToArray();

        if (p.Deprecated)
            WriteWarning($"libguestfs deprecates {p.Name}" + (p.DeprecatedBy is null ? "." : $"; use {p.DeprecatedBy} instead."));
        bool go;
        try { go = ShouldProcess($"GuestDisk {disk.Id}", p.IsLibrary ? $"Call {p.Name} (library side)" : $"Call guestfsd {p.Name}"); }
        catch (Exception e) when (e is NullReferenceException or PSInvalidOperationException or System.Management.Automation.Host.HostException)
        {
            // -Confirm in a host that cannot ask (no console, a hosted runspace).
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"Cannot ask whether to call {p.Name}: this PowerShell host cannot prompt. Leave out -Confirm, or run the command in an interactive session.", e),
                "ConfirmationNotPossible", ErrorCategory.InvalidOperation, p.Name));
            return;
        }
        if (!go) return;
        // Host paths of library-side calls (copy_in, disk_format …) are resolved like any provider path.
        foreach (var a in p.Arguments.Where(a => a.Type == "String(HostPath)"))
            if (args.TryGetValue(a.Name, out var hp) && hp is string hostPathArg)
                args[a.Name] = GetUnresolvedProviderPathFromPSPath(hostPathArg);

        // File arguments: host paths, opened here (downloads through a temporary name).
        var opened = new List<Stream>();
        string? downloadTemp = null, downloadTarget = null;
        try
        {
            foreach (var a in p.Arguments.Where(a => a.IsFileIn || a.IsFileOut))
            {
                if (args.TryGetValue(a.Name, out var v) && v is string hostPath)
                {
                    string full = GetUnresolvedProviderPathFromPSPath(hostPath);
                    Stream s;
                    if (a.IsFileIn) s = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                    else
                    {
                        downloadTarget = full;
                        downloadTemp = Path.Combine(Path.GetDirectoryName(full)!, GuestFs.Engine.Library.PartialName.For(Path.GetFileName(full)));
                        s = new FileStream(downloadTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                    }
                    opened.Add(s);
                    args[a.Name] = s;
                }
            }
            object? result = Run(ct => disk.Session.InvokeByNameAsync(p.Name, args, ct), disk.Session);
            foreach (var s in opened) s.Dispose();
            opened.Clear();
            if (downloadTemp is not null) { File.Move(downloadTemp, downloadTarget!, overwrite: true); downloadTemp = null; }
            switch (result)
            {
                case null: break;
                case IReadOnlyList<KeyValuePair<string, string>> pairs:
                    var od = new OrderedDictionary();
                    foreach (var kv in pairs) od[kv.Key] = kv.Value;
                    WriteObject(od);
                    break;
                case byte[] bytes: WriteObject(bytes, enumerateCollection: false); break;
                case Array arr: WriteObject(arr, enumerateCollection: true); break;
                default: WriteObject(result); break;
            }
        }
        catch (ArgumentException e)
        {
            WriteError(new ErrorRecord(e, "InvalidApiArgument", ErrorCategory.InvalidArgument, p.Name));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            WriteError(ToErrorRecord(e, "ApiCallFailed", p.Name));
        }
        finally
        {
            foreach (var s in opened) s.Dispose();
            if (downloadTemp is not null) { try { File.Delete(downloadTemp); } catch { } }
        }
    }
}

/// <summary>Completes guestfsd procedure names and library-side call names.</summary>
public sealed class ProcedureNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string w = (wordToComplete ?? "").Trim('\'', '"');
        foreach (var p in ProcedureCatalog.AllWithLibrary.Where(p => p.Name.StartsWith(w, StringComparison.OrdinalIgnoreCase) && !p.IsInternal && !p.IsDebug).OrderBy(p => p.Name, StringComparer.Ordinal))
            yield return new CompletionResult(p.Name, p.Name, CompletionResultType.ParameterValue, p.Summary.Length > 0 ? p.Summary : p.Name);
    }
}
