using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// Gets guest files or directories (lstat data, link targets), from pipelined batches: many
/// paths (an array, or pipeline input) cost about one round trip, not one each.
/// </summary>
[Cmdlet(VerbsCommon.Get, "GuestItem", DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestFileInfo))]
public sealed class GetGuestItemCommand : GuestPathBatchCmdlet<GuestFileInfo?>
{
    protected override string FailedErrorId => "GetItemFailed";

    protected override Task<BatchReply<GuestFileInfo?>[]> FetchAsync(GuestSession session, string[] paths, CancellationToken ct) =>
        session.GetItemsAsync(paths, ct);

    protected override void Emit(string given, string[] paths, BatchReply<GuestFileInfo?>[] replies)
    {
        // As with Get-Item, a wildcard that matches nothing returns nothing; a literal
        // path that does not exist is a PathNotFound error.
        for (int i = 0; i < paths.Length; i++)
        {
            if (replies[i].Error is { } e) WriteError(ToErrorRecord(e, FailedErrorId, paths[i], reading: true));
            else if (replies[i].Value is { } item) WriteObject(item);
            else if (!GuestPathResolver.HasWildcards(given) || ParameterSetName == "LiteralPath") WriteError(GuestPathNotFound(given));
        }
    }
}
