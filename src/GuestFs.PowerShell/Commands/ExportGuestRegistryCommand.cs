using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Library.Registry;
using GuestFs.PowerShell.Registry;

namespace GuestFs.PowerShell.Commands;

/// <summary>
/// Writes a key of a Windows guest's registry, with everything below it, as a .reg file
/// in the form reg.exe export writes (UTF-16LE with a byte-order mark, CRLF lines).
/// </summary>
[Cmdlet(VerbsData.Export, "GuestRegistry")]
[OutputType(typeof(FileInfo), typeof(string))]
public sealed class ExportGuestRegistryCommand : GuestCmdlet
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>The key to export: HKLM\SOFTWARE\…, HKLM\SYSTEM\CurrentControlSet\…, HKU\.DEFAULT, HKU\&lt;user&gt;.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Key { get; set; } = "";

    /// <summary>The .reg file to write on the host; without it the text is written to the pipeline.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Replace the file if it exists.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var disk = ResolveDisk(Disk);
        HivePath key;
        try { key = GuestRegistryState.ParsePath(Key); }
        catch (RegistryPathException e) { ThrowTerminatingError(new ErrorRecord(e, e.ErrorId, e.Category, Key)); return; }
        string? file = null;
        if (Path is not null)
        {
            file = GetUnresolvedProviderPathFromPSPath(Path);
            if (File.Exists(file) && !Force.IsPresent)
                ThrowTerminatingError(new ErrorRecord(new IOException($"'{file}' exists; use -Force to replace it."), "FileExists", ErrorCategory.ResourceExists, file));
        }
        System.Collections.Generic.List<RegKeySnapshot>? tree;
        try
        {
            tree = Run(ct => disk.Registry.ReadTreeAsync(disk, key, int.MaxValue, ct), disk.Session);
        }
        catch (RegistryPathException e) { ThrowTerminatingError(new ErrorRecord(e, e.ErrorId, e.Category, Key)); return; }
        catch (Exception e) when (e is not PipelineStoppedException) { ThrowTerminatingError(ToErrorRecord(e, "ExportFailed", Key, reading: true)); return; }
        if (tree is null)
            ThrowTerminatingError(new ErrorRecord(new ItemNotFoundException($"The key '{key.FullName}' does not exist in the registry of GuestDisk {disk.Id}."),
                "RegistryKeyNotFound", ErrorCategory.ObjectNotFound, Key));
        var text = new StringWriter();
        var writer = new RegFile.Writer(text);
        foreach (var k in tree!)
            writer.WriteKey(k.Path.Length == 0 ? key.Prefix : key.Prefix + "\\" + string.Join("\\", k.Path), k.Values);
        WriteVerbose($"{tree!.Count} keys, {tree.Sum(k => k.Values.Length)} values from {key.FullName}");
        if (file is null)
        {
            WriteObject(text.ToString());
            return;
        }
        string tmp = file + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(tmp, RegFile.ToBytes(text.ToString()));
        File.Move(tmp, file, overwrite: true);
        WriteObject(new FileInfo(file));
    }
}
