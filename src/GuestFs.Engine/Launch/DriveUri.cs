using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace GuestFs.Engine.Launch;

/// <summary>
/// guestfish's <c>-a URI</c> forms, parsed into a <see cref="DriveSource"/>.
/// Errors are <see cref="ArgumentException"/>s that name the URI and, for an
/// unknown scheme, list the supported ones.
/// </summary>
public static class DriveUri
{
    /// <summary>The schemes <see cref="Parse"/> accepts.</summary>
    public static readonly IReadOnlyList<string> Schemes = new[]
    {
        "nbd", "nbd+unix", "ssh", "http", "https", "ftp", "ftps", "iscsi", "rbd", "gluster",
    };

    /// <summary>
    /// Parses <paramref name="uri"/>. <paramref name="user"/> and <paramref name="secret"/>
    /// (from -Credential) override a user (and password) written in the URI.
    /// </summary>
    public static DriveSource Parse(string uri, string? user = null, string? secret = null, bool skipCertificateCheck = false, string? sshHostKey = null)
    {
        if (string.IsNullOrWhiteSpace(uri)) throw new ArgumentException("the disk URI is empty", nameof(uri));
        int colon = uri.IndexOf("://", StringComparison.Ordinal);
        if (colon <= 0)
            throw Bad(uri, "it has no scheme; write it as SCHEME://… (" + string.Join(", ", Schemes) + ") or use -Path for a local image");
        string scheme = uri.Substring(0, colon).ToLowerInvariant();
        if (!Schemes.Contains(scheme))
            throw Bad(uri, $"the scheme '{scheme}' is not supported; use one of {string.Join(", ", Schemes.Select(s => s + "://"))}");
        if (scheme == "rbd") return ParseRbd(uri, user, secret);
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var u))
            throw Bad(uri, "it is not a well-formed URI");
        string? uriUser = null, uriPassword = null;
        if (!string.IsNullOrEmpty(u.UserInfo))
        {
            var parts = u.UserInfo.Split(':', 2);
            uriUser = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) uriPassword = Uri.UnescapeDataString(parts[1]);
        }
        user ??= uriUser;
        secret ??= uriPassword;
        int? port = u.IsDefaultPort || u.Port < 0 ? null : u.Port;
        string host = u.Host;
        string path = Uri.UnescapeDataString(u.AbsolutePath);
        if (u.Query.Length > 0 && scheme != "nbd+unix" && scheme is not ("http" or "https" or "ftp" or "ftps"))
            throw Bad(uri, "it has a query (?…), which this scheme does not take");
        DriveSource source;
        switch (scheme)
        {
            case "nbd":
                RequireHost(uri, host);
                source = new NbdDriveSource(new DriveServer(host, port), null, path.TrimStart('/'));
                break;
            case "nbd+unix":
                if (host.Length > 0) throw Bad(uri, "nbd+unix takes no host: write nbd+unix:///EXPORT?socket=/path/to/socket");
                string? socket = QueryValue(u.Query, "socket");
                if (string.IsNullOrEmpty(socket) || !socket.StartsWith('/'))
                    throw Bad(uri, "nbd+unix needs ?socket=/absolute/path/to/socket");
                source = new NbdDriveSource(null, socket, path.TrimStart('/'));
                break;
            case "ssh":
                RequireHost(uri, host);
                if (path.Length <= 1) throw Bad(uri, "it names no file: write ssh://[user@]host[:port]/path/to/disk.img");
                string? keyHash = null;
                if (sshHostKey is not null)
                {
                    try { keyHash = SshDriveSource.ParseFingerprint(sshHostKey); }
                    catch (FormatException e) { throw Bad(uri, e.Message); }
                }
                source = new SshDriveSource(new DriveServer(host, port), path) { HostKeySha256 = keyHash };
                break;
            case "http": case "https": case "ftp": case "ftps":
                RequireHost(uri, host);
                // The user and password travel as qemu options (the password in a secret), not in the URL.
                var b = new UriBuilder(u) { UserName = "", Password = "" };
                source = new CurlDriveSource(scheme, b.Uri.AbsoluteUri) { SkipCertificateCheck = skipCertificateCheck };
                break;
            case "iscsi":
            {
                RequireHost(uri, host);
                var segs = path.Trim('/').Split('/');
                if (segs.Length != 2 || segs[0].Length == 0 || !int.TryParse(segs[1], NumberStyles.None, CultureInfo.InvariantCulture, out int lun))
                    throw Bad(uri, "write it as iscsi://host[:port]/TARGET-IQN/LUN (LUN a number)");
                source = new IscsiDriveSource(new DriveServer(host, port), segs[0], lun);
                break;
            }
            case "gluster":
            {
                RequireHost(uri, host);
                var segs = path.TrimStart('/').Split('/', 2);
                if (segs.Length != 2 || segs[0].Length == 0 || segs[1].Length == 0)
                    throw Bad(uri, "write it as gluster://host[:port]/VOLUME/path/to/disk.img");
                source = new GlusterDriveSource(new DriveServer(host, port), segs[0], "/" + segs[1]);
                break;
            }
            default:
                throw Bad(uri, "unsupported scheme");
        }
        if (sshHostKey is not null && source is not SshDriveSource)
            throw Bad(uri, "-SshHostKey applies only to ssh://");
        if (skipCertificateCheck && source is not CurlDriveSource { Protocol: "https" or "ftps" })
            throw Bad(uri, "-SkipCertificateCheck applies only to https:// and ftps://");
        return source with { User = user, Secret = secret };
    }

    // rbd://[mon1[:port][,mon2[:port]…]]/pool/image — several hosts, which System.Uri does not take.
    private static DriveSource ParseRbd(string uri, string? user, string? secret)
    {
        string rest = uri.Substring("rbd://".Length);
        int slash = rest.IndexOf('/');
        if (slash < 0) throw Bad(uri, "write it as rbd://[monitor[:port],…]/POOL/IMAGE");
        var monitors = new List<DriveServer>();
        foreach (var m in rest.Substring(0, slash).Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var hp = m.Split(':');
            int? port = null;
            if (hp.Length > 2 || hp[0].Length == 0) throw Bad(uri, $"'{m}' is not a monitor host[:port]");
            if (hp.Length == 2)
            {
                if (!int.TryParse(hp[1], NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p is < 1 or > 65535)
                    throw Bad(uri, $"'{hp[1]}' is not a port number");
                port = p;
            }
            monitors.Add(new DriveServer(hp[0], port));
        }
        var segs = rest.Substring(slash + 1).Split('/');
        if (segs.Length != 2 || segs[0].Length == 0 || segs[1].Length == 0)
            throw Bad(uri, "write it as rbd://[monitor[:port],…]/POOL/IMAGE");
        return new RbdDriveSource(monitors, segs[0], segs[1]) { User = user, Secret = secret };
    }

    private static void RequireHost(string uri, string host)
    {
        if (string.IsNullOrEmpty(host)) throw Bad(uri, "it names no server host");
    }

    private static string? QueryValue(string query, string key)
    {
        foreach (var kv in query.TrimStart('?').Split('&'))
        {
            var p = kv.Split('=', 2);
            if (p.Length == 2 && p[0] == key) return Uri.UnescapeDataString(p[1]);
        }
        return null;
    }

    private static ArgumentException Bad(string uri, string why) =>
        new($"The disk URI '{Redact(uri)}' cannot be used: {why}", "uri");

    /// <summary>The URI with any password replaced by ***, for messages.</summary>
    public static string Redact(string uri)
    {
        int s = uri.IndexOf("://", StringComparison.Ordinal);
        if (s < 0) return uri;
        int at = uri.IndexOf('@', s + 3);
        int slash = uri.IndexOf('/', s + 3);
        if (at < 0 || (slash >= 0 && at > slash)) return uri;
        int colon = uri.IndexOf(':', s + 3);
        if (colon < 0 || colon > at) return uri;
        return uri.Substring(0, colon + 1) + "***" + uri.Substring(at);
    }
}
