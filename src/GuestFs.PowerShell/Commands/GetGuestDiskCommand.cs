using System.Management.Automation;

namespace GuestFs.PowerShell.Commands;

/// <summary>Lists the guest disk sessions open in this PowerShell process.</summary>
[Cmdlet(VerbsCommon.Get, "GuestDisk")]
[OutputType(typeof(GuestDisk))]
public sealed class GetGuestDiskCommand : GuestCmdlet
{
    [Parameter(Position = 0)]
    public int[]? Id { get; set; }

    [Parameter]
    [SupportsWildcards]
    public string? Label { get; set; }

    protected override void ProcessRecord()
    {
        var pattern = Label is null ? null : new WildcardPattern(Label, WildcardOptions.IgnoreCase);
        foreach (var d in GuestDiskRegistry.All())
        {
            if (Id is not null && System.Array.IndexOf(Id, d.Id) < 0) continue;
            if (pattern is not null && (d.Label is null || !pattern.IsMatch(d.Label))) continue;
            WriteObject(d);
        }
        var open = GuestDiskRegistry.All();
        if (Id is not null)
            foreach (var id in Id)
                if (!System.Array.Exists(open, d => d.Id == id))
                    WriteError(new ErrorRecord(new ItemNotFoundException($"No open guest disk has Id {id}; Get-GuestDisk lists the open ones"),
                    "GuestDiskNotFound", ErrorCategory.ObjectNotFound, id));
    }
}
