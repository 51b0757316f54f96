using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.Engine.Library;

/// <summary>
/// Offline changes to an installed guest, as virt-customize 1.48 makes them: host name,
/// time zone, SSH authorized keys. Each works on the one operating system of the
/// session's disks, mounted read-write for the change and unmounted afterwards.
/// </summary>
public static class GuestCustomize
{
    /// <summary>
    /// Mounts the guest's one operating system read-write (or read-only when
    /// <paramref name="readOnly"/>) by the shared mount policy (<see cref="GuestSession.MountGuestAsync"/>:
    /// no system is NoOperatingSystem, several AmbiguousOperatingSystem), runs <paramref name="work"/>
    /// with its root and type, and unmounts. Whatever was mounted before is unmounted first.
    /// </summary>
    public static async Task<T> OnOperatingSystemAsync<T>(GuestSession s, bool readOnly, Func<string, string, Task<T>> work, CancellationToken ct)
    {
        await s.UmountAllAsync(ct).ConfigureAwait(false);
        var mounted = await s.MountGuestAsync(null, null, readOnly, singleFileSystemWithoutOs: false, ct).ConfigureAwait(false);
        try
        {
            string root = mounted.Root!;
            string type = await s.InspectGetTypeAsync(root, ct).ConfigureAwait(false);
            var r = await work(root, type).ConfigureAwait(false);
            await s.SyncAsync(ct).ConfigureAwait(false);
            return r;
        }
        finally
        {
            // After a cancel the change may still be running in the daemon (a guest command),
            // which holds the session until it ends: the unmount is left to whoever closes or
            // next uses the session, so a stopped command returns at once.
            if (!ct.IsCancellationRequested) await s.UmountAllAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sets a Linux guest's host name where its distribution keeps it: /etc/hostname (and
    /// the old name in /etc/hosts on Debian-like systems; PRETTY_HOSTNAME in
    /// /etc/machine-info on Fedora and RHEL 7+), HOSTNAME= in /etc/sysconfig/network on
    /// older Red Hat systems, /etc/HOSTNAME on SUSE. Returns the files changed.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SetLinuxHostnameAsync(GuestSession s, string root, string hostname, CancellationToken ct)
    {
        ValidateHostname(hostname);
        string distro = await s.InspectGetDistroAsync(root, ct).ConfigureAwait(false);
        int major = await s.InspectGetMajorVersionAsync(root, ct).ConfigureAwait(false);
        bool redHat = distro is "rhel" or "centos" or "scientificlinux" or "oraclelinux" or "redhat-based";
        var changed = new List<string>();
        if ((distro == "fedora" && major >= 18) || (redHat && major >= 7))
        {
            await ReplaceFileAsync(s, "/etc/hostname", Encoding.UTF8.GetBytes(hostname + "\n"), ct).ConfigureAwait(false);
            changed.Add("/etc/hostname");
            await ReplaceKeyLineAsync(s, "/etc/machine-info", "PRETTY_HOSTNAME", hostname, ct).ConfigureAwait(false);
            changed.Add("/etc/machine-info");
        }
        else if (distro is "debian" or "ubuntu" or "kalilinux")
        {
            string? old = null;
            if (await s.IsFileAsync("/etc/hostname", cancellationToken: ct).ConfigureAwait(false))
                old = (await s.ReadLinesAsync("/etc/hostname", ct).ConfigureAwait(false)).FirstOrDefault();
            await ReplaceFileAsync(s, "/etc/hostname", Encoding.UTF8.GetBytes(hostname + "\n"), ct).ConfigureAwait(false);
            changed.Add("/etc/hostname");
            if (await s.IsFileAsync("/etc/hosts", cancellationToken: ct).ConfigureAwait(false))
            {
                var text = Encoding.UTF8.GetString(await s.ReadFileAsync("/etc/hosts", ct).ConfigureAwait(false));
                var updated = ReplaceHostInHosts(text, old, hostname);
                if (updated != text)
                {
                    await ReplaceFileAsync(s, "/etc/hosts", Encoding.UTF8.GetBytes(updated), ct).ConfigureAwait(false);
                    changed.Add("/etc/hosts");
                }
            }
        }
        else if (distro == "fedora" || redHat)
        {
            await ReplaceKeyLineAsync(s, "/etc/sysconfig/network", "HOSTNAME", hostname, ct).ConfigureAwait(false);
            changed.Add("/etc/sysconfig/network");
        }
        else if (distro is "opensuse" or "sles" or "suse-based")
        {
            await ReplaceFileAsync(s, "/etc/HOSTNAME", Encoding.UTF8.GetBytes(hostname), ct).ConfigureAwait(false);
            changed.Add("/etc/HOSTNAME");
        }
        else throw new NotSupportedException($"GuestFs does not know where a {distro} guest keeps its host name (virt-customize 1.48 does not either).");
        return changed;
    }

    /// <summary>
    /// Sets a Windows guest's name in its SYSTEM hive, in the current control set (what
    /// virt-customize 1.48 cannot do): Control\ComputerName\ComputerName's ComputerName (the
    /// NetBIOS name: the first label, upper case, at most 15 characters), and
    /// Services\Tcpip\Parameters' Hostname and NV Hostname (the first label), with Domain and
    /// NV Domain when a domain is given. The hive is edited as a copy beside it (cp, hivex
    /// open, commit), which is renamed over it only when every value is written.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SetWindowsHostnameAsync(GuestSession s, string root, string hostname, CancellationToken ct)
    {
        string label = hostname.Split('.')[0];
        string domain = hostname.Length > label.Length ? hostname.Substring(label.Length + 1) : "";
        if (label.Length > 15)
            throw new ArgumentException($"'{label}' is too long for a Windows computer name: its NetBIOS name has at most 15 characters. Use a shorter first label.");
        string hive = await s.InspectGetWindowsSystemHiveAsync(root, ct).ConfigureAwait(false);
        string controlSet = await s.InspectGetWindowsCurrentControlSetAsync(root, ct).ConfigureAwait(false);
        int slash = hive.LastIndexOf('/');
        string tmp = hive.Substring(0, slash + 1) + ".gfs-" + Guid.NewGuid().ToString("N").Substring(0, 12);
        await s.CpAsync(hive, tmp, ct).ConfigureAwait(false);
        try
        {
            await s.WithHiveAsync(tmp, write: true, async c =>
            {
                long top = await s.HivexRootAsync(c).ConfigureAwait(false);
                long names = await KeyAsync(s, top, new[] { controlSet, "Control", "ComputerName", "ComputerName" }, c).ConfigureAwait(false);
                await SetStringAsync(s, names, "ComputerName", label.ToUpperInvariant(), c).ConfigureAwait(false);
                long tcpip = await KeyAsync(s, top, new[] { controlSet, "Services", "Tcpip", "Parameters" }, c).ConfigureAwait(false);
                await SetStringAsync(s, tcpip, "Hostname", label, c).ConfigureAwait(false);
                await SetStringAsync(s, tcpip, "NV Hostname", label, c).ConfigureAwait(false);
                if (domain.Length > 0)
                {
                    await SetStringAsync(s, tcpip, "Domain", domain, c).ConfigureAwait(false);
                    await SetStringAsync(s, tcpip, "NV Domain", domain, c).ConfigureAwait(false);
                }
                await s.HivexCommitAsync(null, c).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);
            await s.MvAsync(tmp, hive, ct).ConfigureAwait(false);
        }
        catch
        {
            try { await s.RmFAsync(tmp, CancellationToken.None).ConfigureAwait(false); } catch { }
            throw;
        }
        return new[] { hive };

        // The key at the path under the node, made where missing.
        static async Task<long> KeyAsync(GuestSession s, long node, string[] path, CancellationToken c)
        {
            foreach (string name in path)
            {
                long child = await s.HivexNodeGetChildAsync(node, name, c).ConfigureAwait(false);
                node = child != 0 ? child : await s.HivexNodeAddChildAsync(node, name, c).ConfigureAwait(false);
            }
            return node;
        }

        // A REG_SZ value: UTF-16LE with its terminating NUL, as Windows writes them.
        static Task SetStringAsync(GuestSession s, long node, string name, string value, CancellationToken c) =>
            s.HivexNodeSetValueAsync(node, name, 1, Encoding.Unicode.GetBytes(value + "\0"), c);
    }

    /// <summary>Where first-boot scripts live: the directory virt-customize's firstboot uses, so the scripts of both tools run from one place.</summary>
    public const string FirstBootDirectory = "/usr/lib/virt-sysprep";

    // The runner: at "start", each executable script in scripts/, in name order, is moved to
    // scripts-done and run there (so a script runs once, even if the boot stops half-way),
    // its output going to the console and to ~root/virt-sysprep-firstboot.log; then the done
    // scripts are deleted.
    private const string FirstBootRunner = """
#!/bin/sh -
### BEGIN INIT INFO
# Provides:          guestfs-firstboot
# Required-Start:    $null
# Should-Start:      $all
# Required-Stop:     $null
# Should-Stop:       $all
# Default-Start:     2 3 5
# Default-Stop:      0 1 6
# Short-Description: Runs the scripts queued for the next boot, once
### END INIT INFO
# Installed by GuestFs (Add-GuestFirstBootCommand). Each script under scripts/ runs once,
# at the next boot, in name order; what it prints goes to ~root/virt-sysprep-firstboot.log.
queue=/usr/lib/virt-sysprep/scripts
done_dir=/usr/lib/virt-sysprep/scripts-done
log=~root/virt-sysprep-firstboot.log

echo "$0 $*" 2>&1 | tee -a $log
[ "$1" = start ] || exit 0
mkdir -p "$done_dir"
for script in "$queue"/*; do
  [ -f "$script" ] && [ -x "$script" ] || continue
  name=${script##*/}
  mv "$script" "$done_dir/"
  echo "=== first boot: $name ===" 2>&1 | tee -a $log
  "$done_dir/$name" 2>&1 | tee -a $log
done
rm -f "$done_dir"/*

""";

    private const string FirstBootUnit = """
[Unit]
Description=Scripts queued for the first boot (GuestFs, virt-customize)
After=network.target
Before=prefdm.service

[Service]
Type=oneshot
ExecStart=/usr/lib/virt-sysprep/firstboot.sh start
RemainAfterExit=yes
StandardOutput=journal+console
StandardError=inherit

[Install]
WantedBy=multi-user.target

""";

    /// <summary>
    /// Queues a shell command to run once at the guest's next boot, with the layout
    /// virt-customize's firstboot uses (so either tool's scripts run from one queue): the
    /// runner /usr/lib/virt-sysprep/firstboot.sh, started by the systemd unit
    /// guestfs-firstboot.service (enabled in multi-user.target) and, where the guest has
    /// /etc/init.d, by SysV links as well; the command in scripts/, named so that it runs
    /// after every script already queued. A runner or unit already there is kept.
    /// A guest with neither systemd nor /etc/init.d is refused: nothing would start the runner.
    /// </summary>
    public static async Task<IReadOnlyList<string>> AddFirstBootCommandAsync(GuestSession s, string command, string? name, CancellationToken ct)
    {
        bool systemd = await s.IsDirAsync("/etc/systemd/system", null, ct).ConfigureAwait(false);
        bool sysv = await s.IsDirAsync("/etc/init.d", null, ct).ConfigureAwait(false) || await s.IsDirAsync("/etc/rc.d", null, ct).ConfigureAwait(false);
        if (!systemd && !sysv)
            throw new NotSupportedException("The guest has neither systemd (/etc/systemd/system) nor SysV init (/etc/init.d), so nothing would run a first-boot command. Run it now with Invoke-GuestCommand instead.");
        var changed = new List<string>();
        string scripts = FirstBootDirectory + "/scripts";
        string runner = FirstBootDirectory + "/firstboot.sh";
        await s.MkdirPAsync(scripts, ct).ConfigureAwait(false);
        if (!await s.ExistsAsync(runner, ct).ConfigureAwait(false))
        {
            await ReplaceFileAsync(s, runner, Encoding.UTF8.GetBytes(FirstBootRunner.Replace("\r\n", "\n") + "\n"), ct).ConfigureAwait(false);
            await s.ChmodAsync(0x1ED, runner, ct).ConfigureAwait(false);   // 0755
            changed.Add(runner);
        }
        if (systemd)
        {
            string unit = "/usr/lib/systemd/system/guestfs-firstboot.service";
            string wants = "/etc/systemd/system/multi-user.target.wants";
            await s.MkdirPAsync("/usr/lib/systemd/system", ct).ConfigureAwait(false);
            if (!await s.ExistsAsync(unit, ct).ConfigureAwait(false))
            {
                await ReplaceFileAsync(s, unit, Encoding.UTF8.GetBytes(FirstBootUnit.Replace("\r\n", "\n") + "\n"), ct).ConfigureAwait(false);
                changed.Add(unit);
            }
            await s.MkdirPAsync(wants, ct).ConfigureAwait(false);
            await s.LnSfAsync(unit, wants + "/guestfs-firstboot.service", ct).ConfigureAwait(false);
            changed.Add(wants + "/guestfs-firstboot.service");
        }
        if (await s.IsDirAsync("/etc/init.d", null, ct).ConfigureAwait(false))
        {
            // Debian's SysV layout: the runner as an init script, started late in runlevels 2, 3 and 5.
            await s.LnSfAsync(runner, "/etc/init.d/guestfs-firstboot", ct).ConfigureAwait(false);
            changed.Add("/etc/init.d/guestfs-firstboot");
            foreach (int level in new[] { 2, 3, 5 })
            {
                string dir = $"/etc/rc{level}.d";
                await s.MkdirPAsync(dir, ct).ConfigureAwait(false);
                await s.LnSfAsync("../init.d/guestfs-firstboot", dir + "/S99guestfs-firstboot", ct).ConfigureAwait(false);
                changed.Add(dir + "/S99guestfs-firstboot");
            }
        }
        // After everything queued: the highest sequence number among the scripts there, plus one.
        int next = 1;
        foreach (string f in await s.LsAsync(scripts, ct).ConfigureAwait(false))
        {
            var parts = f.Split('-');
            if (parts.Length >= 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)) next = Math.Max(next, n + 1);
        }
        string file = $"{scripts}/5000-{next:D4}-{FirstBootScriptName(name ?? command)}";
        await ReplaceFileAsync(s, file, Encoding.UTF8.GetBytes(command.EndsWith('\n') ? command : command + "\n"), ct).ConfigureAwait(false);
        await s.ChmodAsync(0x1ED, file, ct).ConfigureAwait(false);
        changed.Add(file);
        return changed;
    }

    /// <summary>A script's file name from its name or command: letters, digits and underscores kept, anything else a hyphen, at most 60 characters.</summary>
    public static string FirstBootScriptName(string name)
    {
        var sb = new StringBuilder(Math.Min(name.Length, 60));
        foreach (char c in name)
        {
            if (sb.Length == 60) break;
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '-');
        }
        return sb.ToString();
    }

    /// <summary>A host name (or FQDN) of letters, digits, hyphens and dots, at most 253 characters.</summary>
    public static void ValidateHostname(string hostname)
    {
        if (hostname.Length is 0 or > 253 || hostname.Split('.').Any(l => l.Length is 0 or > 63 || l.StartsWith('-') || l.EndsWith('-') || !l.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')))
            throw new ArgumentException($"'{hostname}' is not a valid host name: use letters, digits and hyphens (labels of at most 63 characters, not starting or ending with a hyphen), separated by dots.");
    }

    /// <summary>
    /// /etc/hosts with the old host name replaced, field by field (addresses and comments
    /// untouched, spacing kept): the full old name by the new name, the old short name by
    /// the new short name, Debian's installer placeholders (unassigned-hostname, and
    /// unassigned-hostname.unassigned-domain when the new name has a domain) too.
    /// </summary>
    public static string ReplaceHostInHosts(string text, string? oldHost, string newHost)
    {
        string? oldShort = oldHost?.Split('.', 2)[0];
        string newShort = newHost.Split('.', 2)[0];
        bool newHasDomain = newHost.Contains('.');
        var sb = new StringBuilder(text.Length + 16);
        foreach (var rawLine in SplitKeepingEnds(text))
        {
            string line = rawLine;
            int hash = line.IndexOf('#');
            string body = hash >= 0 ? line.Substring(0, hash) : line;
            string rest = hash >= 0 ? line.Substring(hash) : "";
            // Fields are separated by spaces/tabs; the first is the address.
            var outBody = new StringBuilder(body.Length);
            int i = 0, field = 0;
            while (i < body.Length)
            {
                if (body[i] is ' ' or '\t' or '\r' or '\n') { outBody.Append(body[i]); i++; continue; }
                int j = i;
                while (j < body.Length && body[j] is not (' ' or '\t' or '\r' or '\n')) j++;
                string tok = body.Substring(i, j - i);
                if (field > 0)
                {
                    if (oldHost is not null && tok == oldHost) tok = newHost;
                    else if (oldShort is not null && tok == oldShort) tok = newShort;
                    else if (tok == "unassigned-hostname") tok = newShort;
                    else if (tok == "unassigned-hostname.unassigned-domain" && newHasDomain) tok = newHost;
                }
                outBody.Append(tok);
                field++;
                i = j;
            }
            sb.Append(outBody).Append(rest);
        }
        return sb.ToString();
    }

    private static IEnumerable<string> SplitKeepingEnds(string text)
    {
        int start = 0;
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') { yield return text.Substring(start, i - start + 1); start = i + 1; }
        if (start < text.Length) yield return text.Substring(start);
    }

    /// <summary>Points /etc/localtime at /usr/share/zoneinfo/<paramref name="zone"/>, which must exist in the guest.</summary>
    public static async Task<IReadOnlyList<string>> SetLinuxTimeZoneAsync(GuestSession s, string zone, CancellationToken ct)
    {
        if (zone.Length == 0 || zone.StartsWith('/') || zone.Split('/').Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"'{zone}' is not a time zone name; use a location like Europe/London.");
        string target = "/usr/share/zoneinfo/" + zone;
        if (!await s.ExistsAsync(target, ct).ConfigureAwait(false))
            throw new ArgumentException($"The time zone '{zone}' does not exist in the guest ({target} is missing); use a location like Europe/London, or install the guest's tzdata package.");
        await s.LnSfAsync(target, "/etc/localtime", ct).ConfigureAwait(false);
        return new[] { "/etc/localtime" };
    }

    /// <summary>
    /// Appends public keys to a user's ~/.ssh/authorized_keys, creating ~/.ssh (0700) and
    /// the file (0600) owned by the user when they are missing, as virt-customize --ssh-inject does.
    /// </summary>
    public static async Task<IReadOnlyList<string>> AddSshAuthorizedKeysAsync(GuestSession s, string user, IReadOnlyList<string> keys, CancellationToken ct)
    {
        if (keys.Count == 0 || keys.Any(k => string.IsNullOrWhiteSpace(k)))
            throw new ArgumentException("An SSH public key is empty; give the key's text (for example the contents of ~/.ssh/id_ed25519.pub).");
        var entry = (await s.ReadLinesAsync("/etc/passwd", ct).ConfigureAwait(false)).Select(l => l.Split(':')).FirstOrDefault(f => f.Length >= 6 && f[0] == user)
            ?? throw new ArgumentException($"The user '{user}' does not exist in the guest's /etc/passwd.");
        int uid = int.Parse(entry[2], NumberStyles.None, CultureInfo.InvariantCulture);
        int gid = int.Parse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture);
        string ssh = entry[5].TrimEnd('/') + "/.ssh";
        var changed = new List<string>();
        if (!await s.ExistsAsync(ssh, ct).ConfigureAwait(false))
        {
            await s.MkdirAsync(ssh, ct).ConfigureAwait(false);
            await s.ChmodAsync(0x1C0, ssh, ct).ConfigureAwait(false);   // 0700
            await s.ChownAsync(uid, gid, ssh, ct).ConfigureAwait(false);
            changed.Add(ssh);
        }
        string auth = ssh + "/authorized_keys";
        if (!await s.ExistsAsync(auth, ct).ConfigureAwait(false))
        {
            await s.TouchAsync(auth, ct).ConfigureAwait(false);
            await s.ChmodAsync(0x180, auth, ct).ConfigureAwait(false);  // 0600
            await s.ChownAsync(uid, gid, auth, ct).ConfigureAwait(false);
        }
        var text = string.Concat(keys.Select(k => k.EndsWith('\n') ? k : k + "\n"));
        await s.WriteAppendAsync(auth, Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
        changed.Add(auth);
        return changed;
    }

    /// <summary>
    /// Sets a user's password field in /etc/shadow, as virt-customize --password does:
    /// the SHA-512 crypt hash of <paramref name="password"/> with a new 16-character salt,
    /// "!!" in front when <paramref name="locked"/>; without a password, "*" (no password
    /// login) or, locked, "!!*". The other fields and lines are kept; the file keeps its
    /// owner, mode and SELinux label.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SetLinuxPasswordAsync(GuestSession s, string user, string? password, bool locked, CancellationToken ct)
    {
        if (!await s.IsFileAsync("/etc/shadow", cancellationToken: ct).ConfigureAwait(false))
            throw new NotSupportedException("The guest has no /etc/shadow, so its passwords cannot be set this way.");
        var text = Encoding.UTF8.GetString(await s.ReadFileAsync("/etc/shadow", ct).ConfigureAwait(false));
        var lines = text.Split('\n').ToList();
        int index = lines.FindIndex(l => l.Split(':')[0] == user && l.Contains(':'));
        if (index < 0) throw new ArgumentException($"The user '{user}' does not exist in the guest's /etc/shadow.");
        var fields = lines[index].Split(':');
        string field = password is null ? "*" : Sha512Crypt.Hash(password, Sha512Crypt.NewSalt());
        fields[1] = (locked ? "!!" : "") + field;
        lines[index] = string.Join(':', fields);
        await ReplaceFileAsync(s, "/etc/shadow", Encoding.UTF8.GetBytes(string.Join('\n', lines)), ct).ConfigureAwait(false);
        return new[] { "/etc/shadow" };
    }

    /// <summary>
    /// Runs a shell command inside the guest (its own /bin/sh and binaries, chrooted into its
    /// mounted filesystems by the daemon, "set -e" first), as virt-customize --run-command
    /// does; returns its standard output. A guest whose architecture this x86_64 appliance
    /// cannot run is refused before anything runs.
    /// </summary>
    public static async Task<string> RunCommandAsync(GuestSession s, string root, string command, CancellationToken ct)
    {
        string arch = await s.InspectGetArchAsync(root, ct).ConfigureAwait(false);
        if (arch is not ("x86_64" or "i386" or "i486" or "i586" or "i686"))
            throw new NotSupportedException($"The guest is {arch} and the appliance runs x86_64, so the guest's programs cannot run in it. Change the guest's files instead (Set-GuestContent, Copy-GuestItem), or run the command at its first boot.");
        if (!await s.ExistsAsync("/bin/sh", ct).ConfigureAwait(false))
            throw new NotSupportedException("The guest has no /bin/sh, so a command cannot run in it.");
        return await s.ShAsync("set -e\n" + command, ct).ConfigureAwait(false);
    }

    private static readonly System.Text.RegularExpressions.Regex PackageNameRegex =
        new("^[A-Za-z0-9][A-Za-z0-9.+_:~=@-]*$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>Refuses a package name that is not one (the names go into a shell command line).</summary>
    public static void ValidatePackageNames(IReadOnlyList<string> packages)
    {
        if (packages.Count == 0) throw new ArgumentException("Name at least one package.");
        foreach (var p in packages)
            if (!PackageNameRegex.IsMatch(p))
                throw new ArgumentException($"'{p}' is not a package name: use the name as the guest's package manager knows it (letters, digits and . + - _ : ~, optionally =version), one package per item.");
    }

    /// <summary>
    /// The shell commands that install <paramref name="packages"/> with the guest's package
    /// manager (the name inspection reports), as virt-customize --install runs them: apt-get
    /// update first, non-interactive, new configuration files taken. Throws
    /// NotSupportedException for a guest without one.
    /// </summary>
    public static string InstallCommand(string packageManagement, IReadOnlyList<string> packages)
    {
        ValidatePackageNames(packages);
        string names = string.Join(" ", packages);
        return packageManagement switch
        {
            "apt" => "export DEBIAN_FRONTEND=noninteractive\n" +
                     "apt_opts='-q -y -o Dpkg::Options::=--force-confnew'\n" +
                     "apt-get $apt_opts update\n" +
                     $"apt-get $apt_opts install {names}\n",
            "dnf" => $"dnf -y install {names}\n",
            "yum" => $"yum -y install {names}\n",
            "zypper" => $"zypper -n in -l {names}\n",
            "apk" => $"apk update\napk add {names}\n",
            "pacman" => $"pacman -S --noconfirm {names}\n",
            "xbps" => $"xbps-install -Sy {names}\n",
            "urpmi" => $"urpmi {names}\n",
            "pisi" => $"pisi it {names}\n",
            "unknown" or "" => throw new NotSupportedException("No package manager was found in this guest (inspection says 'unknown'), so packages cannot be installed in it. Copy the files in (Copy-GuestItem) or install them at its first boot (Add-GuestFirstBootCommand)."),
            _ => throw new NotSupportedException($"Installing packages with the guest's package manager '{packageManagement}' is not supported; use Invoke-GuestCommand with its own command instead."),
        };
    }

    /// <summary>The command that lists the installed packages as "name version" lines, or null for a package manager without one here.</summary>
    internal static string? ListPackagesCommand(string packageManagement) => packageManagement switch
    {
        "apt" => "dpkg-query -W -f '${db:Status-Status} ${Package} ${Version}\\n' | sed -n 's/^installed //p'",
        "dnf" or "yum" or "zypper" or "urpmi" => "rpm -qa --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'",
        _ => null,
    };

    /// <summary>What was installed or changed: the lines of <paramref name="after"/> not in <paramref name="before"/>, sorted.</summary>
    public static string[] NewPackages(string before, string after)
    {
        var old = new HashSet<string>(before.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);
        return after.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !old.Contains(l)).Distinct(StringComparer.Ordinal).OrderBy(l => l, StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// Installs packages with the guest's own package manager, run in the guest as
    /// virt-customize --install does; the session needs a network (Open-GuestDisk -Network).
    /// Returns the package manager's output and the packages ("name version") that are new or
    /// at another version afterwards (null when the package manager has no listing here).
    /// </summary>
    public static async Task<(string Output, string[]? Installed)> InstallPackagesAsync(GuestSession s, string root, IReadOnlyList<string> packages, CancellationToken ct)
    {
        ValidatePackageNames(packages);
        if (!s.Options.Network)
            throw new NetworkRequiredException("The appliance has no network, so the guest's package manager cannot download anything: open the disk with Open-GuestDisk -Writable -Network (with -Path, Install-GuestPackage does this itself).");
        string pm = await s.InspectGetPackageManagementAsync(root, ct).ConfigureAwait(false);
        string script = InstallCommand(pm, packages);
        string? list = ListPackagesCommand(pm);
        string before = list is null ? "" : await RunCommandAsync(s, root, list, ct).ConfigureAwait(false);
        string output = await RunCommandAsync(s, root, script, ct).ConfigureAwait(false);
        if (list is null) return (output, null);
        string after = await RunCommandAsync(s, root, list, ct).ConfigureAwait(false);
        return (output, NewPackages(before, after));
    }

    /// <summary>A random password of 16 letters and digits (without look-alikes), as virt-customize makes one.</summary>
    public static string RandomPassword()
    {
        const string chars = "ABCDEFGHIJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789";
        var sb = new StringBuilder(16);
        for (int i = 0; i < 16; i++) sb.Append(chars[System.Security.Cryptography.RandomNumberGenerator.GetInt32(chars.Length)]);
        return sb.ToString();
    }

    /// <summary>KEY=value replaced (or added at the end) in a small text file, written whole.</summary>
    private static async Task ReplaceKeyLineAsync(GuestSession s, string path, string key, string value, CancellationToken ct)
    {
        var lines = await s.IsFileAsync(path, cancellationToken: ct).ConfigureAwait(false)
            ? (await s.ReadLinesAsync(path, ct).ConfigureAwait(false)).Where(l => !l.StartsWith(key + "=", StringComparison.Ordinal)).ToList()
            : new List<string>();
        lines.Add($"{key}={value}");
        await ReplaceFileAsync(s, path, Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Replaces (or creates) a file without a moment where it is half written: the contents go
    /// to a temporary name in the same directory, which takes the old file's owner, mode and
    /// SELinux label, and is renamed over it.
    /// </summary>
    public static async Task ReplaceFileAsync(GuestSession s, string path, byte[] content, CancellationToken ct)
    {
        GuestFs.Engine.Api.GuestStatns? st = null;
        try { st = await s.LstatnsAsync(path, ct).ConfigureAwait(false); }
        catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
        int slash = path.LastIndexOf('/');
        string tmp = path.Substring(0, slash + 1) + ".gfs-" + Guid.NewGuid().ToString("N").Substring(0, 12);
        try
        {
            await s.WriteAsync(tmp, content, ct).ConfigureAwait(false);
            if (st is not null && (st.StMode & 0xF000) == 0x8000)
            {
                await s.ChownAsync((int)st.StUid, (int)st.StGid, tmp, ct).ConfigureAwait(false);
                await s.ChmodAsync((int)(st.StMode & 0xFFF), tmp, ct).ConfigureAwait(false);
                byte[]? label = null;
                try { label = await s.GetxattrAsync(path, "security.selinux", ct).ConfigureAwait(false); }
                catch (GuestFsException e) when (e is not GuestFsProtocolException) { }
                if (label is { Length: > 0 })
                    await s.LsetxattrAsync("security.selinux", Encoding.Latin1.GetString(label), label.Length, tmp, ct).ConfigureAwait(false);
            }
            await s.MvAsync(tmp, path, ct).ConfigureAwait(false);
        }
        catch
        {
            try { await s.RmFAsync(tmp, CancellationToken.None).ConfigureAwait(false); } catch { }
            throw;
        }
    }
}

/// <summary>A change that needs the appliance's network was asked of a session opened without one.</summary>
public sealed class NetworkRequiredException : InvalidOperationException
{
    public NetworkRequiredException(string message) : base(message) { }
}
