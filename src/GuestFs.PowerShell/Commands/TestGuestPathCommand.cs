using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>What Test-GuestPath checks for.</summary>
public enum GuestPathType { Any, Container, Leaf }

/// <summary>
/// Tells whether guest paths exist (true/false per path, in input order), from pipelined
/// lstat batches: a thousand paths cost about one round trip, not a thousand.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "GuestPath", DefaultParameterSetName = "Path")]
[OutputType(typeof(bool))]
public sealed class TestGuestPathCommand : GuestPathBatchCmdlet<GuestStatns?>
{
    [Parameter]
    public GuestPathType PathType { get; set; } = GuestPathType.Any;

    protected override string FailedErrorId => "TestPathFailed";

    protected override Task<BatchReply<GuestStatns?>[]> FetchAsync(GuestSession session, string[] paths, CancellationToken ct) =>
        session.LstatManyAsync(paths, ct);

    protected override void Emit(string given, string[] paths, BatchReply<GuestStatns?>[] replies)
    {
        // A wildcard stands for several paths: true when any of them fits.
        bool ok = replies.Any(r => r.Ok && Fits(r.Value));
        if (!ok && replies.FirstOrDefault(r => !r.Ok).Error is { } e)
            WriteError(ToErrorRecord(e, FailedErrorId, given, reading: true));
        else
            WriteObject(ok);
    }

    private bool Fits(GuestStatns? st) => st is not null && PathType switch
    {
        GuestPathType.Container => GuestFileInfo.TypeFromMode(st.StMode) == GuestItemType.Directory,
        GuestPathType.Leaf => GuestFileInfo.TypeFromMode(st.StMode) != GuestItemType.Directory,
        _ => true,
    };
}
