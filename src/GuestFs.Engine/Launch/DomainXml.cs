using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Xml;
using System.Xml.Linq;

namespace GuestFs.Engine.Launch;

/// <summary>One disk of a libvirt domain, as <see cref="DomainXml.Parse"/> reads it.</summary>
/// <param name="Source">Where its bytes are.</param>
/// <param name="Format">&lt;driver type='…'/&gt; (raw, qcow2 …), or null to detect.</param>
/// <param name="ReadOnly">&lt;readonly/&gt; in the XML.</param>
/// <param name="BlockSize">&lt;blockio logical_block_size='…'/&gt;, or null.</param>
/// <param name="Target">&lt;target dev='…'/&gt; (vda, sda, hdc …), for messages.</param>
/// <param name="Device">disk, cdrom, floppy or lun.</param>
public sealed record DomainDisk(DriveSource Source, string? Format, bool ReadOnly, int? BlockSize, string Target, string Device);

/// <summary>What a libvirt domain's XML says about it.</summary>
/// <param name="Name">&lt;name&gt;.</param>
/// <param name="Running">The XML is a running domain's (libvirt gives such XML an id attribute).</param>
/// <param name="Disks">Its disks with a source, in document order (as libguestfs's add_domain takes them).</param>
/// <param name="Skipped">Disks left out, each with the reason (an empty CD-ROM drive …).</param>
public sealed record DomainInfo(string Name, bool Running, IReadOnlyList<DomainDisk> Disks, IReadOnlyList<string> Skipped);

/// <summary>
/// Reads the disks of a libvirt domain XML document (what <c>virsh dumpxml</c>
/// prints) the way libguestfs's add_domain does: every <c>devices/disk</c> of
/// type file, block or network that has a source, with its format, read-only
/// flag and logical block size. Volume disks need the storage pool, so they
/// are resolved by the caller (<paramref name="resolveVolume"/>).
/// </summary>
public static class DomainXml
{
    /// <summary>Parses <paramref name="xml"/>. Relative file paths are taken from <paramref name="baseDirectory"/>.</summary>
    /// <exception cref="FormatException">Not domain XML, a disk this cannot open, or no disk at all; the message says which.</exception>
    public static DomainInfo Parse(string xml, string? baseDirectory = null, Func<string, string, string>? resolveVolume = null)
    {
        XDocument doc;
        try { doc = XDocument.Parse(xml); }
        catch (XmlException e) { throw new FormatException($"it is not XML: {e.Message}", e); }
        var root = doc.Root;
        if (root is null || root.Name.LocalName != "domain")
            throw new FormatException($"it is not libvirt domain XML (the root element is <{root?.Name.LocalName}>, not <domain>)");
        string name = root.Element("name")?.Value.Trim() ?? "";
        bool running = root.Attribute("id") is { } id && id.Value != "-1";
        var disks = new List<DomainDisk>();
        var skipped = new List<string>();
        var devices = root.Element("devices");
        foreach (var disk in devices?.Elements("disk") ?? Enumerable.Empty<XElement>())
        {
            string type = (string?)disk.Attribute("type") ?? "";
            string device = (string?)disk.Attribute("device") ?? "disk";
            string target = (string?)disk.Element("target")?.Attribute("dev") ?? "?";
            string what = $"disk {target} ({device}, type '{type}')";
            var source = disk.Element("source");
            DriveSource? src;
            switch (type)
            {
                case "file":
                case "block":
                {
                    string? path = (string?)source?.Attribute(type == "file" ? "file" : "dev");
                    if (string.IsNullOrEmpty(path)) { skipped.Add($"{what}: no source (an empty drive)"); continue; }
                    if (!Path.IsPathRooted(path) && baseDirectory is not null) path = Path.GetFullPath(Path.Combine(baseDirectory, path));
                    src = DriveSource.File(path);
                    break;
                }
                case "volume":
                {
                    string? pool = (string?)source?.Attribute("pool"), volume = (string?)source?.Attribute("volume");
                    if (string.IsNullOrEmpty(pool) || string.IsNullOrEmpty(volume)) { skipped.Add($"{what}: no pool or volume"); continue; }
                    if (resolveVolume is null)
                        throw new FormatException($"{what} is volume '{volume}' of storage pool '{pool}', which only libvirt can resolve: open the domain with -Domain (and -ConnectionUri) instead of its XML file");
                    src = DriveSource.File(resolveVolume(pool!, volume!));
                    break;
                }
                case "network":
                    if (source is null || source.Attribute("protocol") is null) { skipped.Add($"{what}: no source protocol"); continue; }
                    src = Network(source, disk, what);
                    break;
                default:
                    skipped.Add($"{what}: disks of type '{type}' are not opened (file, block, network and volume are)");
                    continue;
            }
            string? format = (string?)disk.Element("driver")?.Attribute("type");
            if (format is "aio") format = null;
            int? blockSize = null;
            if (disk.Element("blockio")?.Attribute("logical_block_size") is { } lbs)
            {
                if (!int.TryParse(lbs.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int b) || b is not (512 or 4096))
                    throw new FormatException($"{what}: logical_block_size '{lbs.Value}' is not 512 or 4096");
                blockSize = b;
            }
            disks.Add(new DomainDisk(src, format, disk.Element("readonly") is not null, blockSize, target, device));
        }
        if (disks.Count == 0)
            throw new FormatException($"the domain '{name}' has no disk to open" + (skipped.Count > 0 ? " (" + string.Join("; ", skipped) + ")" : ""));
        return new DomainInfo(name, running, disks, skipped);
    }

    private static DriveSource Network(XElement source, XElement disk, string what)
    {
        string protocol = ((string)source.Attribute("protocol")!).ToLowerInvariant();
        string sourceName = (string?)source.Attribute("name") ?? "";
        var hosts = source.Elements("host").ToList();
        string? user = (string?)disk.Element("auth")?.Attribute("username");
        DriveServer Server(XElement h, string proto)
        {
            string host = (string?)h.Attribute("name") ?? "";
            if (host.Length == 0) throw new FormatException($"{what}: a <host> of the {proto} source has no name");
            int? port = null;
            if (h.Attribute("port") is { } p)
            {
                if (!int.TryParse(p.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n is < 1 or > 65535)
                    throw new FormatException($"{what}: port '{p.Value}' is not a TCP port");
                port = n;
            }
            return new DriveServer(host, port);
        }
        XElement OneHost(string proto) => hosts.Count == 1 ? hosts[0]
            : throw new FormatException($"{what}: a {proto} source needs exactly one <host>, it has {hosts.Count}");

        DriveSource src;
        switch (protocol)
        {
            case "nbd":
            {
                var h = OneHost("nbd");
                if ((string?)h.Attribute("transport") == "unix")
                {
                    string socket = (string?)h.Attribute("socket") ?? "";
                    if (!socket.StartsWith('/')) throw new FormatException($"{what}: an nbd unix transport needs socket='/absolute/path'");
                    src = new NbdDriveSource(null, socket, sourceName.Length == 0 ? null : sourceName);
                }
                else src = new NbdDriveSource(Server(h, "nbd"), null, sourceName.Length == 0 ? null : sourceName);
                break;
            }
            case "http": case "https": case "ftp": case "ftps":
            {
                var s = Server(OneHost(protocol), protocol);
                string path = sourceName.StartsWith('/') ? sourceName : "/" + sourceName;
                var b = new UriBuilder(protocol, s.Host, s.Port ?? -1) { Path = path };
                string query = (string?)source.Attribute("query") ?? "";
                if (query.Length > 0) b.Query = query;
                src = new CurlDriveSource(protocol, b.Uri.AbsoluteUri);
                break;
            }
            case "ssh":
            {
                string path = sourceName.StartsWith('/') ? sourceName : "/" + sourceName;
                src = new SshDriveSource(Server(OneHost("ssh"), "ssh"), path);
                break;
            }
            case "iscsi":
            {
                // name='iqn.…:target/LUN'
                int slash = sourceName.LastIndexOf('/');
                int lun = 0;
                string iqn = sourceName;
                if (slash > 0)
                {
                    if (!int.TryParse(sourceName.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out lun))
                        throw new FormatException($"{what}: iSCSI name '{sourceName}' does not end in /LUN");
                    iqn = sourceName.Substring(0, slash);
                }
                if (iqn.Length == 0) throw new FormatException($"{what}: the iSCSI source names no target");
                src = new IscsiDriveSource(Server(OneHost("iscsi"), "iscsi"), iqn, lun);
                break;
            }
            case "rbd":
            {
                var parts = sourceName.Split('/', 2);
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw new FormatException($"{what}: an rbd source is named POOL/IMAGE, not '{sourceName}'");
                src = new RbdDriveSource(hosts.Select(h => Server(h, "rbd")).ToList(), parts[0], parts[1]);
                break;
            }
            case "gluster":
            {
                var parts = sourceName.TrimStart('/').Split('/', 2);
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw new FormatException($"{what}: a gluster source is named VOLUME/path, not '{sourceName}'");
                src = new GlusterDriveSource(Server(OneHost("gluster"), "gluster"), parts[0], "/" + parts[1]);
                break;
            }
            default:
                throw new FormatException($"{what}: the network protocol '{protocol}' is not supported; these are: nbd, http, https, ftp, ftps, ssh, iscsi, rbd, gluster");
        }
        return user is null ? src : src with { User = user };
    }
}

/// <summary>
/// A libvirt domain by name, through <c>virsh</c> (libvirt-clients): its XML
/// (<c>dumpxml</c>), its state (<c>domstate</c>) and its volume paths
/// (<c>vol-path</c>). GuestFs links no libvirt library; virsh is the one
/// place that talks to libvirt.
/// </summary>
public static class LibvirtDomain
{
    /// <summary>Reads domain <paramref name="name"/> from <paramref name="connectionUri"/> (null: virsh's default).</summary>
    /// <exception cref="FileNotFoundException">virsh is not installed.</exception>
    /// <exception cref="InvalidOperationException">libvirt refused (no such domain, no connection …); the message is virsh's.</exception>
    public static async System.Threading.Tasks.Task<DomainInfo> GetAsync(string name, string? connectionUri, System.Threading.CancellationToken ct)
    {
        string virsh = ExternalCommand.Find("virsh")
            ?? throw new FileNotFoundException("virsh is not installed (Debian package libvirt-clients); it is needed to read a libvirt domain. Install it, or give the domain's XML file with -DomainXml.", "virsh");
        async System.Threading.Tasks.Task<string> Run(params string[] args)
        {
            var all = new List<string>();
            if (connectionUri is not null) { all.Add("-c"); all.Add(connectionUri); }
            all.AddRange(args);
            var r = await ExternalCommand.RunAsync(virsh, all, ct, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (!r.Success)
            {
                string msg = r.StandardError.Trim();
                if (msg.StartsWith("error: ", StringComparison.Ordinal)) msg = msg.Substring(7);
                throw new InvalidOperationException($"libvirt{(connectionUri is null ? "" : " (" + connectionUri + ")")}: {msg.Replace("\nerror: ", "; ")}");
            }
            return r.StandardOutput;
        }
        string xml = await Run("dumpxml", "--", name).ConfigureAwait(false);
        string state = (await Run("domstate", "--", name).ConfigureAwait(false)).Trim();
        var volumes = new Dictionary<(string, string), string>();
        // vol-path needs a call of its own per volume: collect them first (Parse is synchronous).
        var doc = XDocument.Parse(xml);
        foreach (var d in doc.Root?.Element("devices")?.Elements("disk") ?? Enumerable.Empty<XElement>())
        {
            if ((string?)d.Attribute("type") != "volume") continue;
            string? pool = (string?)d.Element("source")?.Attribute("pool"), vol = (string?)d.Element("source")?.Attribute("volume");
            if (pool is null || vol is null) continue;
            volumes[(pool, vol)] = (await Run("vol-path", "--pool", pool, vol).ConfigureAwait(false)).Trim();
        }
        var info = DomainXml.Parse(xml, null, (p, v) => volumes[(p, v)]);
        return info with { Running = state != "shut off" };
    }
}
