using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Text;
using GuestFs.Engine.Library;

namespace GuestFs.PowerShell.Commands;

/// <summary>Shared body of Set-GuestContent and Add-GuestContent: gather the pipeline, write once at the end.</summary>
public abstract class WriteGuestContentCommandBase : GuestCmdlet
{
    private readonly List<object> _values = new();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path")]
    [ArgumentCompleter(typeof(GuestPathCompleter))]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    [Parameter(Position = 1, ValueFromPipeline = true)]
    [AllowNull]
    [AllowEmptyCollection]
    public object[]? Value { get; set; }

    /// <summary>Do not add a newline after each value.</summary>
    [Parameter]
    public SwitchParameter NoNewline { get; set; }

    /// <summary>Values are bytes (byte, byte[]) written as they are.</summary>
    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(EncodingCompleter))]
    public string? Encoding { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public GuestDisk? Disk { get; set; }

    /// <summary>Also write the values to the pipeline, as Set-Content -PassThru does.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected abstract bool Append { get; }

    protected override void ProcessRecord()
    {
        if (Value is null) return;
        foreach (var v in Value) if (v is not null) _values.Add(v is PSObject p ? p.BaseObject : v);
    }

    protected override void EndProcessing()
    {
        byte[] content;
        try { content = Encode(); }
        catch (ArgumentException e) { ThrowTerminatingError(new ErrorRecord(e, "InvalidContent", ErrorCategory.InvalidArgument, null)); return; }
        foreach (var raw in ParameterSetName == "LiteralPath" ? LiteralPath : Path)
        {
            var disk = ResolveLocation(raw, Disk, literal: true, out var given);
            string path = GuestPath.Normalize(given);
            if (!RequireWritable(disk, path)) continue;
            if (!ShouldProcess(path, Append ? "Add content to guest file" : "Set content of guest file")) continue;
            try
            {
                if (Append) Run(ct => disk.Session.WriteAppendAsync(path, content, ct), disk.Session);
                else Run(ct => disk.Session.WriteAsync(path, content, ct), disk.Session);
                if (PassThru.IsPresent) foreach (var v in _values) WriteObject(v);
            }
            catch (Exception e)
            {
                WriteError(ToErrorRecord(e, Append ? "AddContentFailed" : "SetContentFailed", path));
            }
        }
    }

    private byte[] Encode() =>
        ContentEncoding.Encode(_values, AsByteStream.IsPresent, Encoding, NoNewline.IsPresent, withPreamble: !Append);
}

/// <summary>Replaces the content of guest files.</summary>
[Cmdlet(VerbsCommon.Set, "GuestContent", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
[OutputType(typeof(object))]
public sealed class SetGuestContentCommand : WriteGuestContentCommandBase
{
    protected override bool Append => false;
}

/// <summary>Appends to guest files (creating them if needed).</summary>
[Cmdlet(VerbsCommon.Add, "GuestContent", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
[OutputType(typeof(object))]
public sealed class AddGuestContentCommand : WriteGuestContentCommandBase
{
    protected override bool Append => true;
}
