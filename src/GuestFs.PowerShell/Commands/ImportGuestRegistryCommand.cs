using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library.Registry;
using GuestFs.PowerShell.Registry;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// Merges a .reg file (REGEDIT5 or REGEDIT4; UTF-16LE or UTF-8) into a Windows guest's
/// registry, as reg.exe import and virt-win-reg --merge do. The whole file is read and
/// checked first: a syntax error, or a key in no hive GuestFs maps, is refused before
/// anything is written. Each hive is changed on a copy that replaces it at the end.
/// </summary>
[Cmdlet(VerbsData.Import, "GuestRegistry", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class ImportGuestRegistryCommand : GuestCmdlet
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>The .reg file on the host.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        string file = GetUnresolvedProviderPathFromPSPath(Path);
        if (!File.Exists(file))
            ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"The .reg file '{file}' does not exist.", file), "RegFileNotFound", ErrorCategory.ObjectNotFound, Path));
        List<RegOperation> ops;
        try { ops = RegFile.Parse(RegFile.Decode(File.ReadAllBytes(file))); }
        catch (RegFormatException e)
        {
            ThrowTerminatingError(new ErrorRecord(new FormatException($"{file}: {e.Message}. Nothing was written to the registry.", e), "RegSyntaxError", ErrorCategory.ParserError, Path));
            return;
        }
        // Every key must be in a hive GuestFs maps, before anything is written.
        var byHive = new List<(HivePath Hive, List<(RegOperation Op, string[] Segments)> Ops)>();
        foreach (var op in ops)
        {
            HivePath p;
            try { p = GuestRegistryState.ParsePath(op.KeyPath); }
            catch (RegistryPathException e)
            {
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"{file}: line {op.Line}: {e.Message} Nothing was written to the registry.", e), e.ErrorId, e.Category, Path));
                return;
            }
            var group = byHive.FirstOrDefault(g => g.Hive.Hive == p.Hive && string.Equals(g.Hive.User, p.User, StringComparison.OrdinalIgnoreCase));
            if (group.Ops is null) { group = (p with { Segments = Array.Empty<string>() }, new()); byHive.Add(group); }
            group.Ops.Add((op, p.Segments));
        }
        if (!RequireWritable(disk, file)) return;
        try
        {
            foreach (var g in byHive) Run(ct => disk.Registry.GetHiveFileAsync(disk, g.Hive, ct), disk.Session);
        }
        catch (RegistryPathException e) { ThrowTerminatingError(new ErrorRecord(e, e.ErrorId, e.Category, Path)); return; }
        catch (Exception e) when (e is not PipelineStoppedException) { ThrowTerminatingError(ToErrorRecord(e, "ImportFailed", Path)); return; }
        if (!ShouldProcess($"GuestDisk {disk.Id}: {string.Join(", ", byHive.Select(g => g.Hive.Prefix))}", $"Merge {ops.Count} registry changes from {file}")) return;
        // Hives with changes from GuestRegistry drives already keep them; a hive this import
        // starts to change is dropped again if the import fails, so a failure in a later hive
        // leaves none of the file's changes behind.
        var pendingBefore = new HashSet<string>(disk.Registry.Pending, StringComparer.Ordinal);
        var files = new List<string>();
        try
        {
            foreach (var g in byHive)
            {
                files.Add(Run(ct => disk.Registry.GetHiveFileAsync(disk, g.Hive, ct), disk.Session));
                Run(ct => disk.Registry.ModifyAsync(disk, g.Hive, (ed, c) => ApplyAsync(ed, g.Ops, c), ct), disk.Session);
                WriteVerbose($"{g.Hive.Prefix}: {g.Ops.Count} changes made on its edit copy; the hive is replaced when every hive of the file is done");
            }
        }
        catch (Exception e)
        {
            // Also on Ctrl+C (the stop token is cancelled then, so the copies are dropped
            // without it): a hive this import changed must not be committed later by
            // Close-GuestDisk or a drive's removal.
            foreach (var f in files.Where(f => !pendingBefore.Contains(f)))
            {
                try { disk.Registry.DiscardAsync(disk, f, CancellationToken.None).GetAwaiter().GetResult(); }
                catch (Exception d) { WriteWarning($"The uncommitted copy of {f} could not be removed (the hive itself is unchanged): {d.Message}"); }
            }
            if (e is PipelineStoppedException) throw;
            if (e is OperationCanceledException && StopToken.IsCancellationRequested) throw new PipelineStoppedException();
            WriteError(ToErrorRecord(e, "ImportFailed", Path));
            return;
        }
        try
        {
            foreach (var f in files)
                foreach (var done in Run(ct => disk.Registry.CommitAsync(disk, f, ct), disk.Session))
                    WriteVerbose($"merged into {done}");
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(ToErrorRecord(e, "ImportCommitFailed", Path));
        }
    }

    private static async Task ApplyAsync(HiveEditor ed, List<(RegOperation Op, string[] Segments)> ops, CancellationToken c)
    {
        foreach (var (op, segs) in ops)
        {
            switch (op)
            {
                case RegKeyOperation { Delete: true }:
                    await ed.DeleteKeyAsync(segs, c).ConfigureAwait(false);
                    break;
                case RegKeyOperation:
                    await ed.EnsureKeyAsync(segs, c).ConfigureAwait(false);
                    break;
                case RegValueOperation { Data: null } v:
                    await ed.RewriteValuesAsync(segs, values =>
                        values.Any(x => string.Equals(x.Name, v.Name, StringComparison.OrdinalIgnoreCase))
                            ? values.Where(x => !string.Equals(x.Name, v.Name, StringComparison.OrdinalIgnoreCase)).ToArray()
                            : null, c).ConfigureAwait(false);
                    break;
                case RegValueOperation v:
                    await ed.SetValueAsync(segs, v.Name, v.Type, v.Data!, c).ConfigureAwait(false);
                    break;
            }
        }
    }
}
