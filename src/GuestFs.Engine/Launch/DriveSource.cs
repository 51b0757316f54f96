using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;

namespace GuestFs.Engine.Launch;

/// <summary>One host and port of a network drive source.</summary>
public sealed record DriveServer(string Host, int? Port = null);

/// <summary>
/// Where a drive's bytes come from: the ONE place that knows a drive protocol.
/// A source describes itself as the blockdev protocol node qemu opens; that one
/// JSON object becomes the cold boot's <c>-blockdev</c> argument, the warm
/// launch's QMP <c>blockdev-add</c>, the <c>json:</c> backing of a read-only
/// overlay and the name <c>qemu-img info</c> probes. Adding a protocol means
/// adding a subclass here (and, for a URI form, a case in <see cref="DriveUri"/>).
/// </summary>
public abstract record DriveSource
{
    /// <summary>libguestfs's protocol name (file, nbd, ssh, http, https, ftp, ftps, iscsi, rbd, gluster) or host_device.</summary>
    public abstract string Protocol { get; }

    /// <summary>What messages call the source (a path or a URI; never a secret).</summary>
    public abstract string Display { get; }

    /// <summary>True for a file or device on this machine.</summary>
    public virtual bool IsLocal => false;

    /// <summary>A user name for protocols that take one (iSCSI CHAP, http basic, Ceph, ssh).</summary>
    public string? User { get; init; }

    /// <summary>The secret (password, CHAP secret, Ceph key); handed to qemu in a 0600 file, never on a command line.</summary>
    public string? Secret { get; init; }

    /// <summary>True when the protocol can use <see cref="Secret"/>.</summary>
    public virtual bool TakesSecret => false;

    /// <summary>
    /// The blockdev protocol node. <paramref name="secretId"/> names the qemu
    /// secret object holding <see cref="Secret"/>, when there is one.
    /// </summary>
    public abstract JsonObject ProtocolNode(string? secretId);

    /// <summary>
    /// The name qemu-img takes for this source (a path, or a json: pseudo-filename). The
    /// protocol node is the "file" child of a node without a driver, so that qemu probes
    /// (or, given a format, applies) the image format on top of it: as the top node itself,
    /// qemu would take the protocol for the format and open no image format.
    /// </summary>
    public virtual string QemuImgName(string? secretId) => "json:" + new JsonObject { ["file"] = ProtocolNode(secretId) }.ToJsonString();

    /// <summary>What to do about <paramref name="error"/> (qemu's message when the source would not open), or null.</summary>
    public virtual string? Advice(string error) => null;

    public override string ToString() => Display;

    /// <summary>A local image file.</summary>
    public static DriveSource File(string path) => new FileDriveSource(path);

    internal static JsonObject Servers(JsonObject node, string key, IReadOnlyList<DriveServer> servers, bool typed, int? defaultPort)
    {
        var a = new JsonArray();
        foreach (var s in servers)
        {
            var o = new JsonObject();
            if (typed) o["type"] = "inet";
            o["host"] = s.Host;
            int? port = s.Port ?? defaultPort;
            if (port is not null) o["port"] = port.Value.ToString(CultureInfo.InvariantCulture);
            a.Add(o);
        }
        node[key] = a;
        return node;
    }
}

/// <summary>A disk image file on this machine (or a block device under /dev).</summary>
public sealed record FileDriveSource(string Path) : DriveSource
{
    public override string Protocol => IsDevice ? "host_device" : "file";
    public override string Display => Path;
    public override bool IsLocal => true;
    public bool IsDevice => Path.StartsWith("/dev/", StringComparison.Ordinal);
    public override JsonObject ProtocolNode(string? secretId) => new()
    {
        ["driver"] = IsDevice ? "host_device" : "file",
        ["filename"] = Path,
    };
    public override string QemuImgName(string? secretId) => Path;
}

/// <summary>An NBD export, over TCP or a unix socket.</summary>
public sealed record NbdDriveSource(DriveServer? Server, string? Socket, string? Export) : DriveSource
{
    public override string Protocol => "nbd";

    /// <summary>What messages call this export instead of its nbd URI (the http(s)/ftp(s) URL GuestFs serves through it).</summary>
    public string? ShownAs { get; init; }

    public override string Display => ShownAs ?? (Socket is not null
        ? $"nbd+unix:///{Export}?socket={Socket}"
        : $"nbd://{Server!.Host}{(Server.Port is null ? "" : ":" + Server.Port)}/{Export}");
    public override JsonObject ProtocolNode(string? secretId)
    {
        var n = new JsonObject { ["driver"] = "nbd" };
        n["server"] = Socket is not null
            ? new JsonObject { ["type"] = "unix", ["path"] = Socket }
            : new JsonObject { ["type"] = "inet", ["host"] = Server!.Host, ["port"] = (Server.Port ?? 10809).ToString(CultureInfo.InvariantCulture) };
        if (!string.IsNullOrEmpty(Export)) n["export"] = Export;
        return n;
    }
}

/// <summary>A file on an SSH server (qemu's libssh driver: ssh-agent authentication, known_hosts check).</summary>
public sealed record SshDriveSource(DriveServer Server, string RemotePath) : DriveSource
{
    public override string Protocol => "ssh";
    public override string Display => $"ssh://{(User is null ? "" : User + "@")}{Server.Host}{(Server.Port is null ? "" : ":" + Server.Port)}{RemotePath}";

    /// <summary>
    /// The server's host key as the SHA-256 of its public key blob (lower-case hex), checked
    /// instead of known_hosts; null checks the user's ~/.ssh/known_hosts (libssh reads the
    /// account's home directory, not $HOME).
    /// </summary>
    public string? HostKeySha256 { get; init; }

    public override JsonObject ProtocolNode(string? secretId)
    {
        var n = new JsonObject
        {
            ["driver"] = "ssh",
            ["server"] = new JsonObject { ["host"] = Server.Host, ["port"] = (Server.Port ?? 22).ToString(CultureInfo.InvariantCulture) },
            ["path"] = RemotePath,
        };
        if (User is not null) n["user"] = User;
        if (HostKeySha256 is not null) n["host-key-check"] = new JsonObject { ["mode"] = "hash", ["type"] = "sha256", ["hash"] = HostKeySha256 };
        return n;
    }

    public override string? Advice(string error)
    {
        if (error.Contains("known_hosts", StringComparison.OrdinalIgnoreCase) || error.Contains("host key", StringComparison.OrdinalIgnoreCase))
            return HostKeySha256 is null
                ? "the server's host key must be in this account's ~/.ssh/known_hosts (ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts), or give it with -SshHostKey SHA256:… (ssh-keygen -lf on the server's host key)"
                : "the server's host key is not the one -SshHostKey gives";
        if (error.Contains("auth", StringComparison.OrdinalIgnoreCase) || error.Contains("agent", StringComparison.OrdinalIgnoreCase))
            return "qemu authenticates with a key held by ssh-agent: start one (SSH_AUTH_SOCK must be set in this process) and ssh-add a key the server accepts for " + (User ?? "this user");
        return null;
    }

    /// <summary>
    /// Parses a host key fingerprint as ssh-keygen -l prints it (SHA256:base64) or as 64
    /// hex digits, into lower-case hex.
    /// </summary>
    public static string ParseFingerprint(string fingerprint)
    {
        string f = fingerprint.Trim();
        if (f.Length == 64 && f.All(Uri.IsHexDigit)) return f.ToLowerInvariant();
        if (f.StartsWith("SHA256:", StringComparison.Ordinal))
        {
            string b = f.Substring(7);
            b += new string('=', (4 - b.Length % 4) % 4);
            try
            {
                byte[] raw = Convert.FromBase64String(b);
                if (raw.Length == 32) return Convert.ToHexString(raw).ToLowerInvariant();
            }
            catch (FormatException) { }
        }
        throw new FormatException($"'{fingerprint}' is not a host key fingerprint: give it as ssh-keygen -lf prints it (SHA256:…) or as 64 hex digits of its SHA-256");
    }
}

/// <summary>
/// An image served over http, https, ftp or ftps; read-only. GuestFs reads it itself (byte
/// ranges, a chunk cache, time limits and retries) and hands it to qemu over a private NBD
/// socket (see GuestFs.Engine.Remote): qemu 7.2's curl driver can stop answering reads for
/// good when several are in flight, and cannot read ftps at all. <see cref="ProtocolNode"/>
/// still describes the curl driver's node, for callers that want qemu to read the URL itself.
/// </summary>
public sealed record CurlDriveSource(string Scheme, string Url) : DriveSource
{
    public override string Protocol => Scheme;
    public override string Display => Url;
    public override bool TakesSecret => true;
    /// <summary>Skip the TLS certificate check (https, ftps).</summary>
    public bool SkipCertificateCheck { get; init; }
    /// <summary>Seconds qemu waits for each request before failing.</summary>
    public int Timeout { get; init; } = 10;
    public override JsonObject ProtocolNode(string? secretId)
    {
        var n = new JsonObject { ["driver"] = Scheme, ["url"] = Url, ["timeout"] = Timeout };
        if (Scheme is "https" or "ftps") n["sslverify"] = !SkipCertificateCheck;
        if (User is not null) n["username"] = User;
        if (secretId is not null) n["password-secret"] = secretId;
        return n;
    }

    public override string? Advice(string error)
    {
        if (Scheme is "https" or "ftps" && !SkipCertificateCheck &&
            (error.Contains("certificate", StringComparison.OrdinalIgnoreCase) || error.Contains("SSL", StringComparison.Ordinal)))
            return "the server's TLS certificate is not trusted by this host: install its CA certificate (update-ca-certificates), or, if you trust this server, add -SkipCertificateCheck";
        if (error.Contains("401", StringComparison.Ordinal) || error.Contains("530", StringComparison.Ordinal) || error.Contains("Access denied", StringComparison.OrdinalIgnoreCase))
            return User is null ? "the server wants a user and password: give -Credential" : "the server refused that user and password: check -Credential";
        return null;
    }
}

/// <summary>An iSCSI LUN (qemu's libiscsi driver), with optional CHAP.</summary>
public sealed record IscsiDriveSource(DriveServer Server, string Target, int Lun) : DriveSource
{
    public override string Protocol => "iscsi";
    public override string Display => $"iscsi://{Server.Host}{(Server.Port is null ? "" : ":" + Server.Port)}/{Target}/{Lun}";
    public override bool TakesSecret => true;
    public override JsonObject ProtocolNode(string? secretId)
    {
        var n = new JsonObject
        {
            ["driver"] = "iscsi",
            ["transport"] = "tcp",
            ["portal"] = Server.Host + ":" + (Server.Port ?? 3260).ToString(CultureInfo.InvariantCulture),
            ["target"] = Target,
            ["lun"] = Lun,
        };
        if (User is not null) n["user"] = User;
        if (secretId is not null) n["password-secret"] = secretId;
        return n;
    }
}

/// <summary>A Ceph RBD image (monitor hosts optional: ceph.conf otherwise).</summary>
public sealed record RbdDriveSource(IReadOnlyList<DriveServer> Monitors, string Pool, string Image) : DriveSource
{
    public override string Protocol => "rbd";
    public override string Display => $"rbd://{string.Join(",", Monitors.Select(m => m.Host + (m.Port is null ? "" : ":" + m.Port)))}/{Pool}/{Image}";
    public override bool TakesSecret => true;
    public override JsonObject ProtocolNode(string? secretId)
    {
        var n = new JsonObject { ["driver"] = "rbd", ["pool"] = Pool, ["image"] = Image };
        if (Monitors.Count > 0) Servers(n, "server", Monitors, typed: false, defaultPort: 6789);
        if (User is not null) n["user"] = User;
        if (secretId is not null) n["key-secret"] = secretId;
        return n;
    }
}

/// <summary>A file on a Gluster volume.</summary>
public sealed record GlusterDriveSource(DriveServer Server, string Volume, string VolumePath) : DriveSource
{
    public override string Protocol => "gluster";
    public override string Display => $"gluster://{Server.Host}{(Server.Port is null ? "" : ":" + Server.Port)}/{Volume}{VolumePath}";
    public override JsonObject ProtocolNode(string? secretId) =>
        Servers(new JsonObject { ["driver"] = "gluster", ["volume"] = Volume, ["path"] = VolumePath },
            "server", new[] { Server }, typed: true, defaultPort: 24007);
}

/// <summary>A drive source could not be opened (server down, unknown export, bad credentials …).</summary>
public sealed class DriveSourceException : IOException
{
    public DriveSourceException(DriveSource source, string message, Exception? inner = null) : base(message, inner) { DriveSource = source; }

    /// <summary>The source that failed.</summary>
    public DriveSource DriveSource { get; }
}
