using System;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Api;

namespace GuestFs.PowerShell.Commands;

/// <summary>Describes guestfsd procedures and the library-side calls: number, side, arguments, optional arguments, return (and, for library-side calls, a one-line summary).</summary>
[Cmdlet(VerbsCommon.Get, "GuestFsApi")]
[OutputType(typeof(ProcedureInfo))]
public sealed class GetGuestFsApiCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ProcedureNameCompleter))]
    public string[] Name { get; set; } = { "*" };

    /// <summary>Also list the internal_* procedures the library itself uses and the daemon's debugging aids.</summary>
    [Parameter]
    public SwitchParameter IncludeInternal { get; set; }

    /// <summary>Only the calls answered on this side: daemon (guestfsd procedures) or library (rebuilt in the engine).</summary>
    [Parameter]
    [ValidateSet("daemon", "library")]
    public string? Side { get; set; }

    /// <summary>Only deprecated procedures.</summary>
    [Parameter]
    public SwitchParameter Deprecated { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var n in Name)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            bool any = false;
            foreach (var p in ProcedureCatalog.AllWithLibrary)
            {
                if (!pattern.IsMatch(p.Name)) continue;
                if ((p.IsInternal || p.IsDebug) && !IncludeInternal.IsPresent && WildcardPattern.ContainsWildcardCharacters(n)) continue;
                if (Deprecated.IsPresent && !p.Deprecated) continue;
                if (Side is not null && !string.Equals(p.Side, Side, StringComparison.OrdinalIgnoreCase)) continue;
                any = true;
                WriteObject(p);
            }
            if (!any && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(new ErrorRecord(new ItemNotFoundException($"'{n}' is not a guestfsd procedure or library call; try Get-GuestFsApi *{n}*"),
                    "UnknownProcedure", ErrorCategory.ObjectNotFound, n));
        }
    }
}
