using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using GuestFs.Engine.Launch;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

// Open-GuestDisk -DomainXml / -Domain: every disk of a libvirt domain in one
// session, as libguestfs's add_domain opens them (DomainXml.cs reads the XML).
public sealed partial class OpenGuestDiskCommand
{
    /// <summary>A libvirt domain XML file (what virsh dumpxml prints): every disk of the domain is opened.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "DomainXml")]
    [ValidateNotNullOrEmpty]
    public string? DomainXml { get; set; }

    /// <summary>A libvirt domain by name (or UUID), read with virsh.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Domain")]
    [ValidateNotNullOrEmpty]
    public string? Domain { get; set; }

    /// <summary>The libvirt connection URI for -Domain (qemu:///system, test:///file.xml …); virsh's default when not given.</summary>
    [Parameter(ParameterSetName = "Domain")]
    [ValidateNotNullOrEmpty]
    public string? ConnectionUri { get; set; }

    /// <summary>With -Writable: open the disks of a running domain for writing all the same (this can corrupt them).</summary>
    [Parameter(ParameterSetName = "DomainXml")]
    [Parameter(ParameterSetName = "Domain")]
    public SwitchParameter Force { get; set; }

    private bool IsDomainSet => ParameterSetName is "DomainXml" or "Domain";

    /// <summary>
    /// The disks of the domain, each with its drive options: the domain's format and
    /// block size win over -Format and -BlockSize; a &lt;readonly/&gt; disk is read-only
    /// even with -Writable. Null after a terminating error.
    /// </summary>
    private List<(DriveSource Source, DriveOptions Options)>? DomainDrives(DriveOptions common)
    {
        DomainInfo info;
        string what;
        try
        {
            if (ParameterSetName == "DomainXml")
            {
                string file = SessionState.Path.GetUnresolvedProviderPathFromPSPath(DomainXml!);
                what = $"the domain XML file '{file}'";
                if (!File.Exists(file))
                {
                    Terminate(new FileNotFoundException($"{what} does not exist.", file), "DomainXmlNotFound", DomainXml);
                    return null;
                }
                info = Engine.Launch.DomainXml.Parse(File.ReadAllText(file), System.IO.Path.GetDirectoryName(file));
            }
            else
            {
                what = $"the libvirt domain '{Domain}'";
                info = Run(ct => LibvirtDomain.GetAsync(Domain!, ConnectionUri, ct));
            }
        }
        catch (FormatException e)
        {
            Terminate(new FormatException($"{(ParameterSetName == "DomainXml" ? DomainXml : Domain)}: {e.Message}", e), "BadDomain", DomainXml ?? Domain);
            return null;
        }
        catch (FileNotFoundException e)
        {
            Terminate(e, "LibvirtClientNotFound", Domain);
            return null;
        }
        catch (InvalidOperationException e)
        {
            Terminate(e, "DomainNotFound", Domain);
            return null;
        }
        if (info.Running && Writable.IsPresent && !Force.IsPresent)
        {
            Terminate(new InvalidOperationException(
                $"{what} ('{info.Name}') is a running virtual machine: writing to its disks while it runs can corrupt them. " +
                "Open it read-only (without -Writable), shut the domain down, or add -Force if you are sure."), "DomainIsRunning", info.Name);
            return null;
        }
        foreach (var s in info.Skipped) WriteVerbose($"domain {info.Name}: {s}");
        var drives = new List<(DriveSource, DriveOptions)>();
        var credential = CredentialParts();
        foreach (var d in info.Disks)
        {
            var options = common with
            {
                Format = d.Format ?? common.Format,
                ReadOnly = common.ReadOnly || d.ReadOnly,
                BlockSize = d.BlockSize ?? common.BlockSize,
            };
            if (d.ReadOnly && !common.ReadOnly) WriteVerbose($"domain {info.Name}: disk {d.Target} is <readonly/> in the domain, so it is opened read-only");
            var source = d.Source;
            if (!source.IsLocal && Credential is not null)
                source = source with { User = credential.User ?? source.User, Secret = credential.Secret };
            WriteVerbose($"domain {info.Name}: disk {d.Target} ({d.Device}) is {source.Display}{(d.Format is null ? "" : ", format " + d.Format)}{(options.ReadOnly ? ", read-only" : "")}");
            drives.Add((source, options));
        }
        return drives;
    }
}
