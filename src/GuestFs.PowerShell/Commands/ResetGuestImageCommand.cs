using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// What one change did to one guest: the base of the results of Reset-GuestImage and of the
/// customization cmdlets, which name the guest and the operation the same way.
/// </summary>
public abstract class GuestChangeResult
{
    /// <summary>The image (with -Path), or null with -Disk.</summary>
    public string? ImagePath { get; init; }
    /// <summary>The GuestDisk's Id (with -Disk), or 0.</summary>
    public int Disk { get; init; }
    /// <summary>The operation, in virt-sysprep's or virt-customize's words (logfiles, hostname …).</summary>
    public string Operation { get; init; } = "";
    /// <summary>Guest files (or devices) created or changed.</summary>
    public string[] Changed { get; init; } = Array.Empty<string>();
}

/// <summary>What one reset operation did to one image. <see cref="GuestChangeResult.Changed"/> carries
/// what was done to each path ("truncated: /etc/machine-id").</summary>
public sealed class GuestImageResetResult : GuestChangeResult
{
    /// <summary>Guest paths removed.</summary>
    public string[] Removed { get; init; } = Array.Empty<string>();
    /// <summary>What the operation could not do in this guest, and why.</summary>
    public string[] Skipped { get; init; } = Array.Empty<string>();

    internal static List<GuestImageResetResult> From(IEnumerable<ImageResetChange> changes, string? image, int disk) =>
        changes.GroupBy(c => c.Operation).Select(g => new GuestImageResetResult
        {
            ImagePath = image,
            Disk = disk,
            Operation = g.Key,
            Removed = g.Where(c => c.Action == "removed").Select(c => c.Path).ToArray(),
            Changed = g.Where(c => c.Action is not ("removed" or "skipped")).Select(c => $"{c.Action}: {c.Path}" + (c.Detail is null ? "" : $" ({c.Detail})")).ToArray(),
            Skipped = g.Where(c => c.Action == "skipped").Select(c => $"{c.Path}: {c.Detail}").ToArray(),
        }).ToList();
}

/// <summary>
/// Removes what makes a guest one particular machine — logs, shell history, SSH host
/// keys, machine ID, DHCP leases, package caches … — before the image becomes a
/// template, with virt-sysprep 1.48's operations and default set.
/// </summary>
[Cmdlet(VerbsCommon.Reset, "GuestImage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Path")]
[OutputType(typeof(GuestImageResetResult))]
public sealed class ResetGuestImageCommand : FleetCmdlet
{
    /// <summary>An open, writable session whose operating system is reset.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Disk")]
    public GuestDisk? Disk { get; set; }

    /// <summary>The operations to run (default: virt-sysprep's default set); also "defaults", "all" and "-name" as virt-sysprep --operations reads them.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ResetOperationCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Operation { get; set; }

    /// <summary>Operations to leave out of the chosen set.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ResetOperationCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? ExcludeOperation { get; set; }

    private IReadOnlyList<string> _ops = Array.Empty<string>();
    private bool WhatIfMode => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && w is SwitchParameter { IsPresent: true };

    protected override void BeginProcessing()
    {
        // Every name is checked before any image is opened.
        try { _ops = ImageReset.Select(Operation, ExcludeOperation); }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "UnknownResetOperation", ErrorCategory.InvalidArgument, string.Join(",", (Operation ?? Array.Empty<string>()).Concat(ExcludeOperation ?? Array.Empty<string>()))));
        }
        if (_ops.Count == 0)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("No operation is left to run: -Operation and -ExcludeOperation together chose none. Get-GuestImageResetOperation lists them."),
                "NoResetOperation", ErrorCategory.InvalidArgument, null));
        WriteVerbose($"operations: {string.Join(", ", _ops)}");
    }

    protected override void ProcessRecord()
    {
        if (IsFleet) { CollectImages(); return; }
        var disk = ResolveDisk(Disk);
        string target = $"GuestDisk {disk.Id}";
        if (WhatIfMode)
        {
            IReadOnlyList<ImageResetChange> plan;
            try { plan = Run(ct => disk.Session.KeepingMountsAsync(() => ImageReset.RunAsync(disk.Session, _ops, planOnly: true, null, ct), ct), disk.Session); }
            catch (Exception e) { WriteError(ToErrorRecord(e, ErrorIdOf(e), disk, reading: true)); return; }
            SayPlan(target, plan);
            return;
        }
        if (!RequireWritable(disk, target)) return;
        if (!ShouldProcess(target, $"Reset the guest ({_ops.Count} operations: {string.Join(", ", _ops)})")) return;
        IReadOnlyList<ImageResetChange> changes;
        try
        {
            changes = Run(ct => disk.Session.KeepingMountsAsync(() => ImageReset.RunAsync(disk.Session, _ops, planOnly: false,
                op => Post(() => WriteProgress(new ProgressRecord(ProgressActivity.Fleet, $"Resetting {target}", op))), ct), ct), disk.Session);
        }
        catch (Exception e) { WriteError(ToErrorRecord(e, ErrorIdOf(e), disk)); return; }
        finally
        {
            disk.Cache.Invalidate();
            WriteProgress(new ProgressRecord(ProgressActivity.Fleet, $"Resetting {target}", "done") { RecordType = ProgressRecordType.Completed });
        }
        foreach (var r in GuestImageResetResult.From(changes, null, disk.Id)) WriteObject(r);
    }

    protected override void EndProcessing()
    {
        if (!IsFleet) return;
        var ops = _ops;
        if (WhatIfMode)
        {
            RunFleet("Planning the reset of disk images", async (session, image, ct) =>
            {
                var plan = await ImageReset.RunAsync(session, ops, planOnly: true, null, ct).ConfigureAwait(false);
                Post(() => SayPlan(image, plan));
                return Array.Empty<object>();
            }, "ResetFailed");
            return;
        }
        KeepConfirmedImages($"Reset the guest ({ops.Count} operations: {string.Join(", ", ops)})");
        int next = 0;
        RunFleet("Resetting disk images", async (session, image, ct) =>
        {
            // One progress bar per image under the fleet's, saying which operation runs.
            int id = ProgressActivity.FleetItem + Interlocked.Increment(ref next);
            string activity = $"Resetting {System.IO.Path.GetFileName(image)}";
            try
            {
                var changes = await ImageReset.RunAsync(session, ops, planOnly: false,
                    op => Post(() => WriteProgress(new ProgressRecord(id, activity, op) { ParentActivityId = ProgressActivity.Fleet })), ct).ConfigureAwait(false);
                return GuestImageResetResult.From(changes, image, 0).Cast<object>().ToList();
            }
            finally
            {
                Post(() => WriteProgress(new ProgressRecord(id, activity, "done") { ParentActivityId = ProgressActivity.Fleet, RecordType = ProgressRecordType.Completed }));
            }
        }, "ResetFailed", writable: true);
    }

    /// <summary>-WhatIf: one "What if" line per file or device an operation would change (more than virt-sysprep --dry-run says).</summary>
    private void SayPlan(string target, IReadOnlyList<ImageResetChange> plan)
    {
        foreach (var c in plan)
        {
            string what = c.Action switch
            {
                "removed" => "remove",
                "truncated" => "truncate",
                "edited" => "edit",
                "created" => "create",
                "refilled" => "refill with random bytes",
                "uuid changed" => "give a new random UUID to",
                "ran" => "run",
                _ => c.Action,
            };
            ShouldProcess($"{target}: {c.Path}", $"{c.Operation}: {what}" + (c.Action == "skipped" && c.Detail is not null ? $" ({c.Detail})" : ""));
        }
        if (plan.Count == 0) ShouldProcess(target, "Reset the guest: nothing to remove or change");
    }

    private static string ErrorIdOf(Exception e) => e is GuestMountPolicyException p ? p.Reason : "ResetFailed";
}

/// <summary>Lists the operations Reset-GuestImage can run.</summary>
[Cmdlet(VerbsCommon.Get, "GuestImageResetOperation")]
[OutputType(typeof(ImageResetOperation))]
public sealed class GetGuestImageResetOperationCommand : PSCmdlet
{
    /// <summary>Operation names (wildcards allowed).</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ResetOperationCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Only the operations that run by default.</summary>
    [Parameter]
    public SwitchParameter Default { get; set; }

    protected override void EndProcessing()
    {
        var patterns = (Name ?? new[] { "*" }).Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        foreach (var n in Name ?? Array.Empty<string>())
        {
            if (!WildcardPattern.ContainsWildcardCharacters(n) && !ImageReset.Operations.Any(o => o.Name.Equals(n, StringComparison.OrdinalIgnoreCase)))
                WriteError(new ErrorRecord(new ArgumentException($"'{n}' is not an image reset operation. The operations are: {string.Join(", ", ImageReset.Operations.Select(o => o.Name))}."),
                    "UnknownResetOperation", ErrorCategory.ObjectNotFound, n));
        }
        foreach (var o in ImageReset.Operations)
            if (patterns.Any(p => p.IsMatch(o.Name)) && (!Default.IsPresent || o.IsDefault)) WriteObject(o);
    }
}

/// <summary>Completes Reset-GuestImage's operation names (and defaults, all).</summary>
public sealed class ResetOperationCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string w = (wordToComplete ?? "").Trim('\'', '"');
        var names = ImageReset.Operations.Select(o => (o.Name, o.Description));
        if (parameterName == "Operation") names = names.Concat(new[] { ("defaults", "virt-sysprep's default set"), ("all", "every operation") });
        foreach (var (n, d) in names.Where(x => x.Item1.StartsWith(w, StringComparison.OrdinalIgnoreCase)))
            yield return new CompletionResult(n, n, CompletionResultType.ParameterValue, d);
    }
}
