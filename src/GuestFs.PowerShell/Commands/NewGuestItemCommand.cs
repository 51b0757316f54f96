using System;
using System.Management.Automation;
using System.Text;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;

namespace GuestFs.PowerShell.Commands;

/// <summary>What New-GuestItem creates.</summary>
public enum GuestNewItemType { File, Directory, SymbolicLink }

/// <summary>Creates guest files, directories (with parents) and symbolic links.</summary>
[Cmdlet(VerbsCommon.New, "GuestItem", SupportsShouldProcess = true)]
[OutputType(typeof(GuestFileInfo))]
public sealed class NewGuestItemCommand : GuestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter]
    [Alias("Type")]
    public GuestNewItemType ItemType { get; set; } = GuestNewItemType.File;

    /// <summary>File content, or the link target for -ItemType SymbolicLink.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Target")]
    public object? Value { get; set; }

    /// <summary>Replace an existing file; for directories, no error if it exists.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var raw in Path)
        {
            var disk = ResolveLocation(raw, Disk, literal: true, out var given);
            var s = disk.Session;
            string path = GuestPath.Normalize(given);
            // Everything the command needs is checked before the guest is touched: a
            // missing link target must not cost the file that -Force would replace.
            if (GuestItemOperations.PrepareNew(ItemType, Value, path, out var plan) is { } invalid) { WriteError(invalid); continue; }
            if (!RequireWritable(disk, path)) continue;
            if (!ShouldProcess(path, $"Create guest {ItemType}")) continue;
            try
            {
                var existing = Run(ct => s.GetItemAsync(path, ct), s);
                var (keep, refused) = GuestItemOperations.CheckNewOverExisting(existing, ItemType, Force.IsPresent, path, "Remove-GuestItem");
                if (refused is not null) { WriteError(refused); continue; }
                if (!keep) Run(ct => GuestItemOperations.CreateAsync(s, path, plan, replace: existing is not null, Force.IsPresent, ct), s);
                var item = Run(ct => s.GetItemAsync(path, ct), s);
                if (item is not null) WriteObject(item);
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, "NewItemFailed", path));
            }
        }
    }
}
