using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Library;

/// <summary>One operation of <see cref="ImageReset"/>: virt-sysprep 1.48's name, whether it runs by default, what it does.</summary>
/// <param name="AppliesTo">Linux, Unix (every guest but Windows), Any, or a narrower rule in words.</param>
public sealed record ImageResetOperation(string Name, bool IsDefault, string Description, string AppliesTo);

/// <summary>One thing an operation did (or, planning, would do) to a guest.</summary>
/// <param name="Action">removed, truncated, edited, created, refilled, uuid changed, ran, or skipped (Detail says why).</param>
public sealed record ImageResetChange(string Operation, string Action, string Path, string? Detail = null);

/// <summary>
/// Removes what makes a guest this one machine before it becomes a template: the
/// operations of virt-sysprep 1.48, under the same names, with the same default set
/// and the same effect on the guest's files. Filesystem operations run in name order
/// with customize last, on the operating system's filesystems mounted as the guest
/// mounts them; then everything is unmounted and the device operations (fs-uuids,
/// lvm-uuids) run. Planning (<c>planOnly</c>) mounts read-only and lists what would change.
/// </summary>
public static class ImageReset
{
    private enum Guard { Any, Unix, Linux }

    private sealed record Op(string Name, bool IsDefault, string Description, Guard Guard, string? Rule,
        Func<Context, Task> Run, bool Device = false);

    private static readonly Op[] All = BuildOperations();

    /// <summary>Every operation, in name order.</summary>
    public static IReadOnlyList<ImageResetOperation> Operations { get; } =
        All.OrderBy(o => o.Name, StringComparer.Ordinal)
           .Select(o => new ImageResetOperation(o.Name, o.IsDefault, o.Description, o.Rule ?? o.Guard switch
           {
               Guard.Linux => "Linux",
               Guard.Unix => "Linux and other non-Windows guests",
               _ => "any guest",
           })).ToArray();

    /// <summary>The names of the operations that run when none are chosen (virt-sysprep's default set).</summary>
    public static IReadOnlyList<string> DefaultNames { get; } = All.Where(o => o.IsDefault).Select(o => o.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray();

    /// <summary>
    /// The operations to run: <paramref name="include"/> is read left to right as virt-sysprep's
    /// --operations is (a name adds it, -name removes it, "defaults" and "all" add those sets,
    /// "-defaults" and "-all" remove them); empty or null means the default set. Then
    /// <paramref name="exclude"/> removes names. An unknown name throws, listing the valid ones.
    /// </summary>
    public static IReadOnlyList<string> Select(IEnumerable<string>? include, IEnumerable<string>? exclude)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var given = include?.SelectMany(i => i.Split(',')).Select(i => i.Trim()).ToList() ?? new List<string>();
        if (given.Count == 0) names.UnionWith(DefaultNames);
        foreach (var item in given)
        {
            bool remove = item.StartsWith('-');
            string name = remove ? item.Substring(1) : item;
            IEnumerable<string> set = name switch
            {
                "defaults" => DefaultNames,
                "all" => All.Select(o => o.Name),
                _ => new[] { Known(name) },
            };
            if (remove) names.ExceptWith(set); else names.UnionWith(set);
        }
        foreach (var e in exclude ?? Array.Empty<string>()) names.Remove(Known(e.Trim()));
        return names.OrderBy(n => n, StringComparer.Ordinal).ToArray();
    }

    private static string Known(string name)
    {
        if (All.Any(o => o.Name == name)) return name;
        throw new ArgumentException(
            $"'{name}' is not an image reset operation. The operations are: {string.Join(", ", All.Select(o => o.Name).OrderBy(n => n, StringComparer.Ordinal))} (and 'defaults', 'all'; Get-GuestImageResetOperation describes each).");
    }

    /// <summary>
    /// Runs <paramref name="operations"/> on every operating system of the session's disks
    /// (which must be writable unless <paramref name="planOnly"/>); nothing may be mounted
    /// (whatever is, is unmounted). Returns what was changed, or with <paramref name="planOnly"/>
    /// what would be (nothing is written then: the filesystems are mounted read-only).
    /// </summary>
    public static async Task<IReadOnlyList<ImageResetChange>> RunAsync(GuestSession s, IReadOnlyCollection<string> operations, bool planOnly,
        Action<string>? stage, CancellationToken ct)
    {
        var chosen = All.Where(o => operations.Contains(o.Name))
            .OrderBy(o => o.Name == "customize" ? 1 : 0).ThenBy(o => o.Name, StringComparer.Ordinal).ToArray();
        var roots = await s.InspectOperatingSystemsAsync(ct).ConfigureAwait(false);
        if (roots.Length == 0)
            throw new GuestMountPolicyException("NoOperatingSystem",
                "No operating system was found on the disks, so there is nothing to reset. Reset-GuestImage works on a guest's installed system (Get-GuestOSInfo shows what inspection finds).");
        var changes = new List<ImageResetChange>();
        foreach (var root in roots.OrderBy(r => r, StringComparer.Ordinal))
        {
            await s.UmountAllAsync(ct).ConfigureAwait(false);
            await s.MountOperatingSystemAsync(root, readOnly: planOnly, ct).ConfigureAwait(false);
            var cx = new Context(s, planOnly, changes, ct)
            {
                Type = await s.InspectGetTypeAsync(root, ct).ConfigureAwait(false),
                Distro = await s.InspectGetDistroAsync(root, ct).ConfigureAwait(false),
                PackageManager = await s.InspectGetPackageManagementAsync(root, ct).ConfigureAwait(false),
                PackageFormat = await s.InspectGetPackageFormatAsync(root, ct).ConfigureAwait(false),
            };
            try
            {
                foreach (var op in chosen.Where(o => !o.Device))
                {
                    ct.ThrowIfCancellationRequested();
                    if (!cx.Applies(op.Guard)) continue;
                    stage?.Invoke(op.Name);
                    cx.Operation = op.Name;
                    await op.Run(cx).ConfigureAwait(false);
                }
                if (cx.UpdateCaStore)
                {
                    cx.Operation = chosen.Any(o => o.Name == "ca-certificates") ? "ca-certificates" : "ipa-client";
                    await cx.UpdateCertificateStoreAsync().ConfigureAwait(false);
                }
                await s.SyncAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                await s.UmountAllAsync(CancellationToken.None).ConfigureAwait(false);
            }
            foreach (var op in chosen.Where(o => o.Device))
            {
                ct.ThrowIfCancellationRequested();
                if (!cx.Applies(op.Guard)) continue;
                stage?.Invoke(op.Name);
                cx.Operation = op.Name;
                await op.Run(cx).ConfigureAwait(false);
            }
        }
        return changes;
    }

    private static bool IsRedHat(string d) => d is "fedora" or "rhel" or "centos" or "scientificlinux" or "oraclelinux" or "redhat-based";
    private static bool IsDebian(string d) => d is "debian" or "ubuntu" or "kalilinux";
    private static bool IsSuse(string d) => d is "opensuse" or "sles" or "suse-based";

    /// <summary>The state one operating system's operations share, and the primitives they are made of.</summary>
    private sealed class Context
    {
        private readonly GuestSession _s;
        private readonly bool _plan;
        private readonly List<ImageResetChange> _changes;
        private readonly CancellationToken _ct;

        public Context(GuestSession s, bool plan, List<ImageResetChange> changes, CancellationToken ct)
        {
            _s = s; _plan = plan; _changes = changes; _ct = ct;
        }

        public string Operation { get; set; } = "";
        public string Type { get; init; } = "";
        public string Distro { get; init; } = "";
        public string PackageManager { get; init; } = "";
        public string PackageFormat { get; init; } = "";
        public bool UpdateCaStore { get; set; }
        public int ChangeCount => _changes.Count;
        public GuestSession Session => _s;
        public bool Plan => _plan;
        public CancellationToken Token => _ct;

        public bool Applies(Guard g) => g switch
        {
            Guard.Linux => Type == "linux",
            Guard.Unix => Type != "windows",
            _ => true,
        };

        public void Record(string action, string path, string? detail = null) => _changes.Add(new ImageResetChange(Operation, action, path, detail));

        private async Task<GuestStatns?> LstatAsync(string path)
        {
            try { return await _s.LstatnsAsync(path, _ct).ConfigureAwait(false); }
            catch (GuestFsException e) when (e is not GuestFsProtocolException) { return null; }
        }

        private static bool IsDir(GuestStatns st) => (st.StMode & 0xF000) == 0x4000;
        private static bool IsRegular(GuestStatns st) => (st.StMode & 0xF000) == 0x8000;

        public async Task<string[]> GlobAsync(string pattern)
        {
            // glob_expand marks directories with a trailing slash; the results name them without.
            try { return (await _s.GlobExpandAsync(pattern, cancellationToken: _ct).ConfigureAwait(false)).Select(p => p.Length > 1 ? p.TrimEnd('/') : p).ToArray(); }
            catch (GuestFsException e) when (e is not GuestFsProtocolException) { return Array.Empty<string>(); }
        }

        /// <summary>Removes every match of <paramref name="pattern"/> and all beneath it (rm -rf); planning lists the files beneath too.</summary>
        public async Task RemoveTreeAsync(string pattern)
        {
            foreach (var p in await GlobAsync(pattern).ConfigureAwait(false))
            {
                var st = await LstatAsync(p).ConfigureAwait(false);
                if (st is null) continue;
                if (IsDir(st) && _plan)
                    foreach (var f in await _s.FindAsync(p, _ct).ConfigureAwait(false)) Record("removed", p + "/" + f);
                if (!_plan) await _s.RmRfAsync(p, _ct).ConfigureAwait(false);
                Record("removed", p);
            }
        }

        /// <summary>Removes every match of <paramref name="pattern"/> that is not a directory (rm; errors ignored).</summary>
        public async Task RemoveAsync(string pattern, Func<string, bool>? spare = null, bool skipSymlinks = false)
        {
            foreach (var p in await GlobAsync(pattern).ConfigureAwait(false))
            {
                if (spare?.Invoke(p) == true) continue;
                var st = await LstatAsync(p).ConfigureAwait(false);
                if (st is null || IsDir(st)) continue;
                if (skipSymlinks && (st.StMode & 0xF000) == 0xA000) continue;
                if (!_plan)
                {
                    try { await _s.RmAsync(p, _ct).ConfigureAwait(false); }
                    catch (GuestFsException e) when (e is not GuestFsProtocolException) { continue; }
                }
                Record("removed", p);
            }
        }

        /// <summary>Removes the regular files anywhere under <paramref name="dir"/>, keeping the directories (and the spared names).</summary>
        public async Task RemoveFilesUnderAsync(string dir, Func<string, bool>? spare = null)
        {
            var st = await LstatAsync(dir).ConfigureAwait(false);
            if (st is null || !IsDir(st)) return;
            foreach (var f in await _s.GetTreeAsync(dir, cancellationToken: _ct).ConfigureAwait(false))
            {
                if (f.ItemType != GuestItemType.File || spare?.Invoke(f.Name) == true) continue;
                if (!_plan) await _s.RmAsync(f.FullName, _ct).ConfigureAwait(false);
                Record("removed", f.FullName);
            }
        }

        /// <summary>Empties <paramref name="path"/> if it is a regular file.</summary>
        public async Task TruncateAsync(string path)
        {
            var st = await LstatAsync(path).ConfigureAwait(false);
            if (st is null || !IsRegular(st)) return;
            if (!_plan) await _s.TruncateAsync(path, _ct).ConfigureAwait(false);
            Record("truncated", path);
        }

        public async Task<bool> IsRegularFileAsync(string path) => await LstatAsync(path).ConfigureAwait(false) is { } st && IsRegular(st);
        public async Task<bool> IsDirectoryAsync(string path) => await LstatAsync(path).ConfigureAwait(false) is { } st && IsDir(st);

        /// <summary>
        /// Replaces a file's contents without a moment where it is half written: the new
        /// contents go to a temporary name in the same directory, which gets the file's owner,
        /// mode and SELinux label, and is then renamed over it.
        /// </summary>
        public async Task ReplaceAsync(string path, byte[] content, string action = "edited")
        {
            if (!_plan) await GuestCustomize.ReplaceFileAsync(_s, path, content, _ct).ConfigureAwait(false);
            Record(action, path);
        }

        /// <summary>Writes <paramref name="text"/> into a counter file (at's .SEQ) if it is a regular file.</summary>
        public async Task ResetSequenceAsync(string path)
        {
            if (await IsRegularFileAsync(path).ConfigureAwait(false)) await ReplaceAsync(path, Encoding.ASCII.GetBytes("00000\n")).ConfigureAwait(false);
        }

        /// <summary>Drops the lines that start with one of <paramref name="prefixes"/> from every match of <paramref name="pattern"/>.</summary>
        public async Task DropLinesAsync(string pattern, params string[] prefixes)
        {
            foreach (var p in await GlobAsync(pattern).ConfigureAwait(false))
            {
                if (!await IsRegularFileAsync(p).ConfigureAwait(false)) continue;
                var lines = await _s.ReadLinesAsync(p, _ct).ConfigureAwait(false);
                var kept = lines.Where(l => !prefixes.Any(x => l.StartsWith(x, StringComparison.Ordinal))).ToArray();
                await ReplaceAsync(p, Encoding.UTF8.GetBytes(string.Concat(kept.Select(l => l + "\n")))).ConfigureAwait(false);
            }
        }

        public async Task TouchAsync(string path)
        {
            int slash = path.LastIndexOf('/');
            if (slash > 0 && !await IsDirectoryAsync(path.Substring(0, slash)).ConfigureAwait(false)) return;
            if (!_plan)
            {
                try { await _s.TouchAsync(path, _ct).ConfigureAwait(false); }
                catch (GuestFsException e) when (e is not GuestFsProtocolException) { return; }
            }
            Record("created", path);
        }

        /// <summary>Runs the guest's own CA store update (update-ca-trust or update-ca-certificates).</summary>
        public async Task UpdateCertificateStoreAsync()
        {
            string[]? cmd = IsRedHat(Distro) ? new[] { "update-ca-trust", "extract" } : IsDebian(Distro) ? new[] { "update-ca-certificates" } : null;
            if (cmd is null) { Record("skipped", "(CA store)", $"no known CA store update for distro '{Distro}'"); return; }
            if (_plan) { Record("ran", string.Join(' ', cmd)); return; }
            try
            {
                await _s.CommandAsync(cmd, _ct).ConfigureAwait(false);
                Record("ran", string.Join(' ', cmd));
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException)
            {
                Record("skipped", string.Join(' ', cmd), e.DaemonMessage);
            }
        }
    }

    private static Op[] BuildOperations()
    {
        static Func<Context, Task> Trees(params string[] patterns) => async cx => { foreach (var p in patterns) await cx.RemoveTreeAsync(p).ConfigureAwait(false); };
        static Func<Context, Task> Files(params string[] patterns) => async cx => { foreach (var p in patterns) await cx.RemoveAsync(p).ConfigureAwait(false); };

        return new[]
        {
            new Op("abrt-data", true, "Removes the crash data the ABRT daemon collected (/var/spool/abrt).", Guard.Unix, null, Trees("/var/spool/abrt/*")),
            new Op("backup-files", true, "Removes editor backup files (*.bak, *~) under /etc, /root, /srv, /tmp and /var; on other guests (Windows) anywhere.", Guard.Any, null, BackupFilesAsync),
            new Op("bash-history", true, "Removes the shell history of root and of the users under /home.", Guard.Unix, null, Files("/home/*/.bash_history", "/root/.bash_history")),
            new Op("blkid-tab", true, "Removes the blkid cache of block device identities.", Guard.Unix, null, async cx =>
            {
                foreach (var d in new[] { "/var/run/blkid.tab", "/etc/blkid/blkid.tab", "/etc/blkid.tab", "/dev/.blkid.tab" })
                {
                    await cx.RemoveAsync(d, skipSymlinks: true).ConfigureAwait(false);
                    await cx.RemoveAsync(d + ".old", skipSymlinks: true).ConfigureAwait(false);
                }
            }),
            new Op("ca-certificates", false, "Removes local CA certificates and keys under /etc/pki (keeping the CA bundles), then rebuilds the guest's CA store.", Guard.Unix, null, async cx =>
            {
                foreach (var p in new[] { "/etc/pki/CA/certs/*.crt", "/etc/pki/CA/crl/*.crt", "/etc/pki/CA/newcerts/*.crt", "/etc/pki/CA/private/*.key", "/etc/pki/tls/private/*.key", "/etc/pki/tls/certs/*.crt" })
                {
                    int before = cx.ChangeCount;
                    await cx.RemoveAsync(p, spare: f => f is "/etc/pki/tls/certs/ca-bundle.crt" or "/etc/pki/tls/certs/ca-bundle.trust.crt").ConfigureAwait(false);
                    if (cx.ChangeCount > before) cx.UpdateCaStore = true;
                }
            }),
            new Op("crash-data", true, "Removes kernel crash dumps (/var/crash, /var/log/dump).", Guard.Linux, null, Trees("/var/crash/*", "/var/log/dump/*")),
            new Op("cron-spool", true, "Removes the users' cron and at jobs and resets at's job counter.", Guard.Any, null, async cx =>
            {
                await cx.RemoveFilesUnderAsync("/var/spool/cron", n => n == ".SEQ").ConfigureAwait(false);
                await cx.ResetSequenceAsync("/var/spool/cron/atjobs/.SEQ").ConfigureAwait(false);
                await cx.RemoveAsync("/var/spool/atjobs/*").ConfigureAwait(false);
                await cx.ResetSequenceAsync("/var/spool/atjobs/.SEQ").ConfigureAwait(false);
                await cx.RemoveAsync("/var/spool/atspool/*").ConfigureAwait(false);
                await cx.RemoveFilesUnderAsync("/var/spool/at", n => n == ".SEQ").ConfigureAwait(false);
                await cx.ResetSequenceAsync("/var/spool/at/.SEQ").ConfigureAwait(false);
            }),
            new Op("customize", true, "Refreshes the guest's random seed files with new random bytes (creating the distribution's one if there is none). Unlike virt-sysprep 1.48 it leaves an emptied /etc/machine-id empty, so every clone makes its own at first boot.", Guard.Any, null, CustomizeAsync),
            new Op("dhcp-client-state", true, "Removes DHCP client leases (/var/lib/dhclient, /var/lib/dhcp).", Guard.Linux, null, Trees("/var/lib/dhclient/*", "/var/lib/dhcp/*")),
            new Op("dhcp-server-state", true, "Removes DHCP server leases (/var/lib/dhcpd).", Guard.Any, null, Trees("/var/lib/dhcpd/*")),
            new Op("dovecot-data", true, "Removes the Dovecot mail server's data files (/var/lib/dovecot).", Guard.Unix, null, Files("/var/lib/dovecot/*")),
            new Op("firewall-rules", false, "Removes the firewall rules (/etc/sysconfig/iptables, firewalld services and zones). Not default: it can leave the guest open.", Guard.Unix, null,
                Files("/etc/sysconfig/iptables", "/etc/firewalld/services/*", "/etc/firewalld/zones/*")),
            new Op("flag-reconfiguration", false, "Creates /.unconfigured, which makes older Red Hat systems ask for their settings at next boot.", Guard.Unix, null, cx => cx.TouchAsync("/.unconfigured")),
            new Op("fs-uuids", false, "Gives every filesystem a new random UUID (ext2/3/4, xfs, btrfs, swap). Not default: /etc/fstab and the boot loader are not changed, so a guest that mounts by UUID may not boot.", Guard.Any, null, FsUuidsAsync, Device: true),
            new Op("ipa-client", true, "Removes the FreeIPA client's configuration, state and CA certificate (a local unenrolment), then rebuilds the guest's CA store.", Guard.Linux, null, async cx =>
            {
                await cx.RemoveAsync("/etc/ipa/ca.crt").ConfigureAwait(false);
                await cx.RemoveAsync("/etc/ipa/default.conf").ConfigureAwait(false);
                await cx.RemoveAsync("/var/lib/ipa-client/sysrestore/*").ConfigureAwait(false);
                await cx.RemoveAsync("/var/lib/ipa-client/pki/*").ConfigureAwait(false);
                int before = cx.ChangeCount;
                foreach (var p in new[] { "/etc/pki/ca-trust/source/anchors/ipa-ca.crt", "/usr/local/share/ca-certificates/ipa-ca.crt", "/etc/pki/ca-trust/source/ipa.p11-kit" })
                    await cx.RemoveAsync(p).ConfigureAwait(false);
                if (cx.ChangeCount > before) cx.UpdateCaStore = true;
            }),
            new Op("kerberos-data", false, "Removes the Kerberos KDC's data (/var/kerberos/krb5kdc, keeping kadm5.acl and kdc.conf).", Guard.Unix, null, async cx =>
                await cx.RemoveAsync("/var/kerberos/krb5kdc/*", spare: p => p.EndsWith("/kadm5.acl", StringComparison.Ordinal) || p.EndsWith("/kdc.conf", StringComparison.Ordinal)).ConfigureAwait(false)),
            new Op("kerberos-hostkeytab", true, "Removes the Kerberos host keytab (/etc/krb5.keytab).", Guard.Unix, null, Files("/etc/krb5.keytab")),
            new Op("logfiles", true, "Removes log files: system, audit, mail, installer, journal, apt and service logs, and some caches that record the machine's use.", Guard.Linux, null, Trees(BuildLogGlobs())),
            new Op("lvm-uuids", true, "Gives every LVM physical volume and volume group a new random UUID.", Guard.Linux, null, LvmUuidsAsync, Device: true),
            new Op("machine-id", true, "Empties the machine ID (/etc/machine-id, /var/lib/dbus/machine-id), which systemd makes anew at the next boot.", Guard.Unix, null, async cx =>
            {
                await cx.TruncateAsync("/etc/machine-id").ConfigureAwait(false);
                await cx.TruncateAsync("/var/lib/dbus/machine-id").ConfigureAwait(false);
            }),
            new Op("mail-spool", true, "Removes the mail waiting in the local spool (/var/spool/mail, /var/mail).", Guard.Any, null, Trees("/var/spool/mail/*", "/var/mail/*")),
            new Op("net-hostname", true, "Removes HOSTNAME= and DHCP_HOSTNAME= from the interface files of Red Hat systems.", Guard.Linux, "Red Hat family Linux",
                cx => IsRedHat(cx.Distro) ? cx.DropLinesAsync("/etc/sysconfig/network-scripts/ifcfg-*", "HOSTNAME=", "DHCP_HOSTNAME=") : Task.CompletedTask),
            new Op("net-hwaddr", true, "Removes the fixed MAC addresses (HWADDR=) from the interface files of Red Hat systems.", Guard.Linux, "Red Hat family Linux",
                cx => IsRedHat(cx.Distro) ? cx.DropLinesAsync("/etc/sysconfig/network-scripts/ifcfg-*", "HWADDR=") : Task.CompletedTask),
            new Op("net-nmconn", true, "Removes NetworkManager's saved connection profiles on Red Hat systems.", Guard.Linux, "Red Hat family Linux",
                cx => IsRedHat(cx.Distro) ? cx.RemoveAsync("/etc/NetworkManager/system-connections/*.nmconnection") : Task.CompletedTask),
            new Op("pacct-log", true, "Removes the process accounting logs and leaves an empty one.", Guard.Linux, "Red Hat and Debian family Linux", async cx =>
            {
                string? dir = IsRedHat(cx.Distro) ? "/var/account" : IsDebian(cx.Distro) ? "/var/log/account" : null;
                if (dir is null) return;
                await cx.RemoveAsync(dir + "/pacct*").ConfigureAwait(false);
                await cx.TouchAsync(dir + "/pacct").ConfigureAwait(false);
            }),
            new Op("package-manager-cache", true, "Removes the downloaded packages the package manager keeps (apt, dnf, yum, zypper).", Guard.Any, "guests with apt, dnf, yum or zypper", async cx =>
            {
                switch (cx.PackageManager)
                {
                    case "apt": await cx.RemoveFilesUnderAsync("/var/cache/apt/archives").ConfigureAwait(false); break;
                    case "dnf": await cx.RemoveFilesUnderAsync("/var/cache/dnf").ConfigureAwait(false); break;
                    case "yum": await cx.RemoveFilesUnderAsync("/var/cache/yum").ConfigureAwait(false); break;
                    case "zypper":
                        foreach (var d in await cx.GlobAsync("/var/cache/zypp*").ConfigureAwait(false)) await cx.RemoveFilesUnderAsync(d).ConfigureAwait(false);
                        break;
                }
            }),
            new Op("pam-data", true, "Removes PAM's runtime data (console ownership, failed login counters).", Guard.Unix, null, Files("/var/run/console/*", "/var/run/faillock/*", "/var/run/sepermit/*")),
            new Op("passwd-backups", true, "Removes the backups of the user and group files (/etc/passwd- and the like).", Guard.Linux, null,
                Files("/etc/group-", "/etc/gshadow-", "/etc/passwd-", "/etc/shadow-", "/etc/subgid-", "/etc/subuid-")),
            new Op("puppet-data-log", true, "Removes Puppet's logs and data.", Guard.Unix, null, Files("/var/log/puppet/*", "/var/lib/puppet/*/*", "/var/lib/puppet/*/*/*")),
            new Op("rh-subscription-manager", true, "Removes the Red Hat Subscription Manager's consumer and entitlement certificates (RHEL).", Guard.Linux, "RHEL",
                cx => cx.Distro == "rhel" ? Trees("/etc/pki/consumer/*", "/etc/pki/entitlement/*")(cx) : Task.CompletedTask),
            new Op("rhn-systemid", true, "Removes the Red Hat Network system ID (RHEL).", Guard.Linux, "RHEL",
                cx => cx.Distro == "rhel" ? Files("/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf")(cx) : Task.CompletedTask),
            new Op("rpm-db", true, "Removes the RPM database's host-specific environment files (/var/lib/rpm/__db.*), which rpm makes anew.", Guard.Any, "rpm-based guests",
                cx => cx.PackageFormat == "rpm" ? cx.RemoveAsync("/var/lib/rpm/__db.*") : Task.CompletedTask),
            new Op("samba-db-log", true, "Removes Samba's logs and databases.", Guard.Unix, null, Files("/var/log/samba/old/*", "/var/log/samba/*", "/var/lib/samba/*/*", "/var/lib/samba/*")),
            new Op("script", true, "virt-sysprep runs host scripts against the guest here (--script); GuestFs takes none, so it does nothing: run your own commands on the open disk in the pipeline instead.", Guard.Any, null, _ => Task.CompletedTask),
            new Op("smolt-uuid", true, "Removes the Smolt hardware UUID.", Guard.Linux, null, Files("/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid")),
            new Op("ssh-hostkeys", true, "Removes the SSH host keys (/etc/ssh/*_host_*); the guest must make new ones at boot.", Guard.Unix, null, Files("/etc/ssh/*_host_*")),
            new Op("ssh-userdir", true, "Removes the .ssh directories of root and of the users under /home (keys, known hosts, authorized keys).", Guard.Unix, null, Trees("/home/*/.ssh", "/root/.ssh")),
            new Op("sssd-db-log", true, "Removes SSSD's logs and cached databases.", Guard.Unix, null, Files("/var/log/sssd/*", "/var/lib/sss/db/*")),
            new Op("tmp-files", true, "Removes everything in /tmp and /var/tmp, hidden files included (the directories stay).", Guard.Unix, null, async cx =>
            {
                foreach (var dir in new[] { "/tmp", "/var/tmp" })
                {
                    if (!await cx.IsDirectoryAsync(dir).ConfigureAwait(false)) continue;
                    foreach (var name in await cx.Session.LsAsync(dir, cx.Token).ConfigureAwait(false))
                        await cx.RemoveTreeAsync(dir + "/" + EscapeGlob(name)).ConfigureAwait(false);
                }
            }),
            new Op("udev-persistent-net", true, "Removes udev's persistent network interface names (70-persistent-net.rules), which hold the old MAC addresses.", Guard.Linux, null,
                Files("/etc/udev/rules.d/70-persistent-net.rules")),
            new Op("user-account", false, "Removes the normal user accounts (UID_MIN to UID_MAX of /etc/login.defs) with their home directories and mail.", Guard.Unix, null, UserAccountsAsync),
            new Op("utmp", true, "Removes the record of who is logged in (/var/run/utmp).", Guard.Unix, null, Files("/var/run/utmp")),
            new Op("yum-uuid", true, "Removes yum's UUID.", Guard.Any, "guests with yum", cx => cx.PackageManager == "yum" ? cx.RemoveAsync("/var/lib/yum/uuid") : Task.CompletedTask),
        };
    }

    private static string EscapeGlob(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char c in name)
        {
            if (c is '*' or '?' or '[' or ']' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }


    private static string[] BuildLogGlobs()
    {
        var g = new List<string>();
        foreach (var top in new[] { "*.log*", "btmp*", "cron*", "debug*", "dmesg*", "faillog*", "firewalld*", "grubby*", "lastlog*", "maillog*", "messages*",
                     "secure*", "spooler*", "syslog*", "tallylog*", "wtmp*", "xferlog*", "aptitude*", "anaconda.syslog", "ntp" })
            g.Add("/var/log/" + top);
        foreach (var dir in new[] { "audit", "mail", "anaconda", "installer", "sa", "gdm", "lightdm", "ntpstats", "rhsm", "journal", "apt", "exim4", "ConsoleKit" })
            g.Add($"/var/log/{dir}/*");
        g.AddRange(new[]
        {
            "/var/log/apache2/*_log", "/var/log/apache2/*_log-*", "/var/log/tuned/tuned.log", "/var/log/BackupPC/LOG", "/var/log/ceph/*.log", "/var/log/chrony/*.log",
            "/var/log/cups/*_log*", "/var/log/glusterfs/*glusterd.vol.log", "/var/log/glusterfs/glusterfs.log", "/var/log/httpd/*log", "/var/log/jetty/jetty-console.log",
            "/var/log/libvirt/libvirtd.log", "/var/log/libvirt/libxl/*.log", "/var/log/libvirt/lxc/*.log", "/var/log/libvirt/qemu/*.log", "/var/log/libvirt/uml/*.log",
            "/var/log/ppp/connect-errors", "/var/log/setroubleshoot/*.log", "/var/log/squid/*.log",
            "/var/named/data/named.run", "/var/lib/logrotate.status",
            "/root/install.log", "/root/install.log.syslog", "/root/anaconda-ks.cfg", "/root/anaconda-post.log", "/root/initial-setup-ks.cfg", "/root/original-ks.cfg",
            "/var/cache/gdm/*", "/var/lib/AccountService/users/*", "/var/lib/fprint/*", "/var/cache/fontconfig/*", "/var/cache/man/*",
            "/etc/Pegasus/*.cnf", "/etc/Pegasus/*.crt", "/etc/Pegasus/*.csr", "/etc/Pegasus/*.pem", "/etc/Pegasus/*.srl",
        });
        return g.ToArray();
    }

    private static async Task BackupFilesAsync(Context cx)
    {
        bool unix = cx.Type is "linux" or "hurd" or "minix" or "freebsd" or "netbsd" or "openbsd";
        var dirs = unix ? new[] { "/etc", "/root", "/srv", "/tmp", "/var" } : new[] { "/" };
        foreach (var dir in dirs)
        {
            if (!await cx.IsDirectoryAsync(dir).ConfigureAwait(false)) continue;
            foreach (var f in await cx.Session.GetTreeAsync(dir, cancellationToken: cx.Token).ConfigureAwait(false))
            {
                if (f.ItemType != GuestItemType.File) continue;
                if (!(f.Name.EndsWith(".bak", StringComparison.Ordinal) || f.Name.EndsWith('~'))) continue;
                await cx.RemoveAsync(EscapeGlob(f.FullName)).ConfigureAwait(false);
            }
        }
    }

    private static readonly string[] SeedFiles = { "/var/lib/random-seed", "/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed", "/var/lib/misc/random-seed", "/etc/random-seed" };

    private static async Task CustomizeAsync(Context cx)
    {
        if (cx.Type != "linux")
        {
            cx.Record("skipped", "(random seed)", $"a random seed cannot be set in a {cx.Type} guest");
            return;
        }
        bool any = false;
        foreach (var f in SeedFiles)
        {
            if (!await cx.IsRegularFileAsync(f).ConfigureAwait(false)) continue;
            any = true;
            long size = cx.Plan ? 512 : await cx.Session.FilesizeAsync(f, cx.Token).ConfigureAwait(false);
            int n = (int)Math.Clamp(size, 512, 8192);
            await cx.ReplaceAsync(f, RandomNumberGenerator.GetBytes(n), "refilled").ConfigureAwait(false);
        }
        if (any) return;
        string? seed = IsRedHat(cx.Distro) ? "/var/lib/random-seed" : IsDebian(cx.Distro) ? "/var/lib/urandom/random-seed"
            : IsSuse(cx.Distro) ? "/var/lib/misc/random-seed" : cx.Distro == "cirros" ? "/etc/random-seed" : null;
        if (seed is null || !await cx.IsDirectoryAsync(seed.Substring(0, seed.LastIndexOf('/'))).ConfigureAwait(false))
        {
            cx.Record("skipped", "(random seed)", "the guest has no random seed file and no directory for one");
            return;
        }
        if (cx.Plan) { cx.Record("created", seed); return; }
        await cx.Session.WriteAsync(seed, RandomNumberGenerator.GetBytes(512), cx.Token).ConfigureAwait(false);
        await cx.Session.ChownAsync(0, 0, seed, cx.Token).ConfigureAwait(false);
        await cx.Session.ChmodAsync(0x180, seed, cx.Token).ConfigureAwait(false);   // 0600
        cx.Record("created", seed);
    }

    private static async Task FsUuidsAsync(Context cx)
    {
        foreach (var (device, type) in await cx.Session.ListFilesystemsAsync(cx.Token).ConfigureAwait(false))
        {
            if (type == "unknown" || device.StartsWith("btrfsvol:", StringComparison.Ordinal)) continue;
            if (cx.Plan) { cx.Record("uuid changed", device, type); continue; }
            string uuid = Guid.NewGuid().ToString();
            try
            {
                await cx.Session.SetUuidAsync(device, uuid, cx.Token).ConfigureAwait(false);
                cx.Record("uuid changed", device, $"{type}: {uuid}");
            }
            catch (GuestFsException e) when (e is not GuestFsProtocolException)
            {
                cx.Record("skipped", device, $"{type}: {e.DaemonMessage}");
            }
        }
    }

    private static async Task LvmUuidsAsync(Context cx)
    {
        var pvs = await cx.Session.PvsAsync(cx.Token).ConfigureAwait(false);
        var vgs = await cx.Session.VgsAsync(cx.Token).ConfigureAwait(false);
        if (pvs.Length == 0 && vgs.Length == 0) return;
        if (!cx.Plan)
        {
            await cx.Session.VgActivateAllAsync(false, cx.Token).ConfigureAwait(false);
            try
            {
                await cx.Session.PvchangeUuidAllAsync(cx.Token).ConfigureAwait(false);
                await cx.Session.VgchangeUuidAllAsync(cx.Token).ConfigureAwait(false);
            }
            finally { await cx.Session.VgActivateAllAsync(true, CancellationToken.None).ConfigureAwait(false); }
        }
        foreach (var pv in pvs) cx.Record("uuid changed", pv, "LVM physical volume");
        foreach (var vg in vgs) cx.Record("uuid changed", vg, "LVM volume group");
    }

    /// <summary>The user-account operation: passwd, shadow and group entries of UID_MIN..UID_MAX, their homes and mail.</summary>
    private static async Task UserAccountsAsync(Context cx)
    {
        if (!await cx.IsRegularFileAsync("/etc/login.defs").ConfigureAwait(false) || !await cx.IsRegularFileAsync("/etc/passwd").ConfigureAwait(false))
        {
            cx.Record("skipped", "/etc/passwd", "the guest has no /etc/login.defs or /etc/passwd");
            return;
        }
        long? min = null, max = null;
        foreach (var l in await cx.Session.ReadLinesAsync("/etc/login.defs", cx.Token).ConfigureAwait(false))
        {
            var parts = l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2) continue;
            if (parts[0] == "UID_MIN" && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var a)) min = a;
            if (parts[0] == "UID_MAX" && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var b)) max = b;
        }
        if (min is null || max is null)
            throw new InvalidOperationException("user-account: /etc/login.defs of the guest has no UID_MIN or UID_MAX, so normal users cannot be told from system accounts.");
        var passwd = await cx.Session.ReadLinesAsync("/etc/passwd", cx.Token).ConfigureAwait(false);
        var users = new List<(string Name, string Home)>();
        foreach (var l in passwd)
        {
            var f = l.Split(':');
            if (f.Length >= 6 && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out long uid) && uid >= min && uid <= max) users.Add((f[0], f[5]));
        }
        if (users.Count == 0) return;
        var names = users.Select(u => u.Name).ToHashSet(StringComparer.Ordinal);
        async Task Drop(string file)
        {
            if (!await cx.IsRegularFileAsync(file).ConfigureAwait(false)) return;
            var lines = await cx.Session.ReadLinesAsync(file, cx.Token).ConfigureAwait(false);
            var kept = lines.Where(l => !names.Contains(l.Split(':')[0])).ToArray();
            if (kept.Length != lines.Length) await cx.ReplaceAsync(file, Encoding.UTF8.GetBytes(string.Concat(kept.Select(l => l + "\n")))).ConfigureAwait(false);
        }
        await Drop("/etc/passwd").ConfigureAwait(false);
        await Drop("/etc/shadow").ConfigureAwait(false);
        await Drop("/etc/group").ConfigureAwait(false);
        foreach (var (name, home) in users)
        {
            await cx.RemoveTreeAsync("/var/spool/mail/" + EscapeGlob(name)).ConfigureAwait(false);
            if (home.StartsWith('/') && home != "/") await cx.RemoveTreeAsync(EscapeGlob(home)).ConfigureAwait(false);
        }
    }
}
