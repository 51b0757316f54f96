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
            string? target = null;
            byte[] content = Array.Empty<byte>();
            if (ItemType == GuestNewItemType.SymbolicLink)
            {
                target = Value is null ? null : LanguagePrimitives.ConvertTo<string>(Value is PSObject po ? po.BaseObject : Value);
                if (string.IsNullOrEmpty(target))
                {
                    WriteError(new ErrorRecord(new ArgumentException($"A symbolic link needs a target: pass -Value <target path> (for '{path}')."),
                        "LinkTargetMissing", ErrorCategory.InvalidArgument, path));
                    continue;
                }
            }
            else if (ItemType == GuestNewItemType.File)
            {
                try
                {
                    content = Value switch
                    {
                        null => Array.Empty<byte>(),
                        byte[] b => b,
                        PSObject { BaseObject: byte[] pb } => pb,
                        _ => Encoding.UTF8.GetBytes(LanguagePrimitives.ConvertTo<string>(Value is PSObject p2 ? p2.BaseObject : Value)),
                    };
                }
                catch (PSInvalidCastException e)
                {
                    WriteError(new ErrorRecord(new ArgumentException($"-Value cannot be written as file content: {e.Message} Pass a string or a byte array.", e),
                        "ValueNotContent", ErrorCategory.InvalidArgument, path));
                    continue;
                }
            }
            if (!RequireWritable(disk, path)) continue;
            if (!ShouldProcess(path, $"Create guest {ItemType}")) continue;
            try
            {
                var existing = Run(ct => s.GetItemAsync(path, ct), s);
                if (existing is not null && !(ItemType == GuestNewItemType.Directory && existing.IsDirectory && Force.IsPresent))
                {
                    if (!Force.IsPresent || existing.IsDirectory)
                    {
                        string advice = Force.IsPresent
                            ? (existing.IsDirectory ? "It is a directory, which -Force does not replace; remove it first with Remove-GuestItem -Recurse." : "")
                            : (existing.IsDirectory ? "It is a directory; remove it first with Remove-GuestItem -Recurse." : "Use -Force to replace it.");
                        WriteError(new ErrorRecord(new System.IO.IOException($"The guest item '{path}' already exists. {advice}".TrimEnd()),
                            "ItemExists", ErrorCategory.ResourceExists, path));
                        continue;
                    }
                    Run(ct => s.RmAsync(path, ct), s);
                }
                switch (ItemType)
                {
                    case GuestNewItemType.Directory:
                        Run(ct => s.MkdirPAsync(path, ct), s);
                        break;
                    case GuestNewItemType.SymbolicLink:
                        Run(ct => s.LnSAsync(target!, path, ct), s);
                        break;
                    default:
                        Run(ct => s.WriteAsync(path, content, ct), s);
                        break;
                }
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
