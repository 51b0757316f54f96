using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell.Commands;

/// <summary>What one customization changed in one guest.</summary>
public sealed class GuestCustomizeResult : GuestChangeResult
{
    /// <summary>The value set (the host name, the time zone, the user).</summary>
    public string Value { get; init; } = "";
    /// <summary>What Invoke-GuestCommand's command wrote to its standard output; null for the other cmdlets.</summary>
    public string? Output { get; init; }
    /// <summary>The password Set-GuestUserPassword -Random made for this guest; null otherwise.</summary>
    public System.Security.SecureString? Password { get; init; }
    /// <summary>Install-GuestPackage: the packages ("name version") installed or upgraded; null for the other cmdlets.</summary>
    public string[]? Packages { get; init; }
}

/// <summary>
/// Base of the customization cmdlets: an open writable session (-Disk) or many images
/// (-Path/-LiteralPath/-Uri, each writable in its own appliance, -ThrottleLimit at once).
/// The guest's one operating system is mounted read-write for the change and unmounted
/// afterwards (with -Disk, what was mounted before is mounted again).
/// </summary>
public abstract class GuestCustomizeCmdlet : FleetCmdlet
{
    /// <summary>An open session, opened with Open-GuestDisk -Writable (default: the only open one).</summary>
    [Parameter(ValueFromPipeline = true, ParameterSetName = "Disk")]
    public GuestDisk? Disk { get; set; }

    /// <summary>virt-customize's name for the change.</summary>
    protected abstract string OperationName { get; }

    /// <summary>The value set, for the result and the -WhatIf line.</summary>
    protected abstract string Value { get; }

    /// <summary>Checks the arguments before any guest is touched (throws ArgumentException).</summary>
    protected virtual void Validate() { }

    /// <summary>A secret made for this session's guest by the change (a random password), handed to the result once.</summary>
    protected virtual System.Security.SecureString? TakeSecret(GuestSession s) => null;

    /// <summary>A command's output for this session's guest, handed to the result once.</summary>
    protected virtual string? TakeOutput(GuestSession s) => null;

    /// <summary>The packages installed in this session's guest, handed to the result once.</summary>
    protected virtual string[]? TakePackages(GuestSession s) => null;

    /// <summary>Whether the -Path sessions need the appliance's network.</summary>
    protected virtual bool NeedsNetwork => false;

    /// <summary>Makes the change on the mounted guest (root, inspection type); returns the files changed.</summary>
    protected abstract Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct);

    protected override void BeginProcessing()
    {
        try { Validate(); }
        catch (ArgumentException e) { ThrowTerminatingError(new ErrorRecord(e, "InvalidCustomization", ErrorCategory.InvalidArgument, Value)); }
    }

    protected override void ProcessRecord()
    {
        if (IsFleet) { CollectImages(); return; }
        var disk = ResolveDisk(Disk);
        string target = $"GuestDisk {disk.Id}";
        if (!RequireWritable(disk, target)) return;
        if (!ShouldProcess(target, $"{OperationName}: {Value}")) return;
        IReadOnlyList<string> changed;
        try
        {
            changed = Run(ct => disk.Session.KeepingMountsAsync(() => GuestCustomize.OnOperatingSystemAsync(disk.Session, false,
                (root, type) => ChangeAsync(disk.Session, root, type, ct), ct), ct), disk.Session);
        }
        catch (Exception e) { WriteError(ToErrorRecord(e, ErrorIdOf(e), disk)); return; }
        finally { disk.Cache.Invalidate(); }
        WriteObject(new GuestCustomizeResult { Disk = disk.Id, Operation = OperationName, Value = Value, Changed = changed.ToArray(), Password = TakeSecret(disk.Session), Output = TakeOutput(disk.Session), Packages = TakePackages(disk.Session) });
    }

    protected override void EndProcessing()
    {
        if (!IsFleet) return;
        KeepConfirmedImages($"{OperationName}: {Value}");
        RunFleet($"{OperationName} in disk images", async (session, image, ct) =>
        {
            try
            {
                var changed = await GuestCustomize.OnOperatingSystemAsync(session, false, (root, type) => ChangeAsync(session, root, type, ct), ct).ConfigureAwait(false);
                return new object[] { new GuestCustomizeResult { ImagePath = image, Operation = OperationName, Value = Value, Changed = changed.ToArray(), Password = TakeSecret(session), Output = TakeOutput(session), Packages = TakePackages(session) } };
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or GuestMountPolicyException)
            {
                throw new FleetImageException(ErrorIdOf(e), e is NotSupportedException ? ErrorCategory.NotImplemented : ErrorCategory.InvalidArgument, e.Message);
            }
        }, "CustomizeFailed", writable: true, network: NeedsNetwork);
    }

    private static string ErrorIdOf(Exception e) => e switch
    {
        GuestMountPolicyException p => p.Reason,
        NetworkRequiredException => "NetworkRequired",
        ArgumentException => "InvalidCustomization",
        NotSupportedException => "NotSupportedForGuest",
        _ => "CustomizeFailed",
    };

    /// <summary>A Linux-only change refused for another guest type.</summary>
    protected static void RequireLinux(string type, string what)
    {
        if (type != "linux") throw new NotSupportedException($"{what} works on Linux guests; this guest is {type}.");
    }
}

/// <summary>Sets a guest's host name, as virt-customize --hostname does; a Windows guest's in its registry.</summary>
[Cmdlet(VerbsCommon.Set, "GuestHostname", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class SetGuestHostnameCommand : GuestCustomizeCmdlet
{
    /// <summary>The new host name (or fully qualified name).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    protected override string OperationName => "hostname";
    protected override string Value => Name;
    protected override void Validate() => GuestCustomize.ValidateHostname(Name);

    protected override Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        if (type == "windows") return GuestCustomize.SetWindowsHostnameAsync(s, root, Name, ct);
        RequireLinux(type, "Set-GuestHostname");
        return GuestCustomize.SetLinuxHostnameAsync(s, root, Name, ct);
    }
}

/// <summary>Sets a guest's time zone, as virt-customize --timezone does.</summary>
[Cmdlet(VerbsCommon.Set, "GuestTimeZone", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class SetGuestTimeZoneCommand : GuestCustomizeCmdlet
{
    /// <summary>A zone of the guest's /usr/share/zoneinfo, such as Europe/London.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string TimeZone { get; set; } = "";

    protected override string OperationName => "timezone";
    protected override string Value => TimeZone;

    protected override Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        RequireLinux(type, "Set-GuestTimeZone");
        return GuestCustomize.SetLinuxTimeZoneAsync(s, TimeZone, ct);
    }
}

/// <summary>Adds SSH public keys to a guest user's authorized_keys, as virt-customize --ssh-inject does.</summary>
[Cmdlet(VerbsCommon.Add, "GuestSshAuthorizedKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class AddGuestSshAuthorizedKeyCommand : GuestCustomizeCmdlet
{
    /// <summary>The guest user (from its /etc/passwd).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string User { get; set; } = "";

    /// <summary>Public keys, as the lines of a .pub file.</summary>
    [Parameter]
    public string[]? Key { get; set; }

    /// <summary>Host files holding public keys (.pub).</summary>
    [Parameter]
    public string[]? KeyPath { get; set; }

    private readonly List<string> _keys = new();

    protected override string OperationName => "ssh-inject";
    protected override string Value => User;

    protected override void Validate()
    {
        foreach (var k in Key ?? Array.Empty<string>()) _keys.Add(k.TrimEnd('\n'));
        foreach (var p in KeyPath ?? Array.Empty<string>())
        {
            string path = GetUnresolvedProviderPathFromPSPath(p);
            if (!File.Exists(path)) throw new ArgumentException($"The key file '{p}' does not exist.");
            string text = File.ReadAllText(path).TrimEnd('\n');
            if (text.Length == 0) throw new ArgumentException($"The key file '{p}' is empty.");
            _keys.Add(text);
        }
        if (_keys.Count == 0) throw new ArgumentException("Give the public key with -Key (its text) or -KeyPath (a .pub file).");
        if (_keys.Any(k => k.Trim().Length == 0 || k.Contains("PRIVATE KEY", StringComparison.Ordinal)))
            throw new ArgumentException("A key is empty or is a private key; give public keys only (the .pub file).");
    }

    protected override Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        if (type == "windows") throw new NotSupportedException("Add-GuestSshAuthorizedKey works on Linux and other Unix guests; this guest is windows.");
        return GuestCustomize.AddSshAuthorizedKeysAsync(s, User, _keys, ct);
    }
}

/// <summary>Sets, locks or randomizes a guest user's password, as virt-customize --password does.</summary>
[Cmdlet(VerbsCommon.Set, "GuestUserPassword", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class SetGuestUserPasswordCommand : GuestCustomizeCmdlet
{
    /// <summary>The guest user (from its /etc/shadow).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string User { get; set; } = "";

    /// <summary>The new password.</summary>
    [Parameter]
    public System.Security.SecureString? Password { get; set; }

    /// <summary>Make a random password for each guest and return it (as a SecureString) in the result.</summary>
    [Parameter]
    public SwitchParameter Random { get; set; }

    /// <summary>Lock the account ("!!" in front of the hash); alone, the account gets no usable password.</summary>
    [Parameter]
    public SwitchParameter Locked { get; set; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<GuestSession, System.Security.SecureString> _made = new();

    protected override string OperationName => "password";
    protected override string Value => User;

    protected override void Validate()
    {
        if (Password is not null && Random.IsPresent)
            throw new ArgumentException("Give either -Password or -Random, not both.");
        if (Password is null && !Random.IsPresent && !Locked.IsPresent)
            throw new ArgumentException("Give -Password (a SecureString), -Random, or -Locked.");
        if (User.Contains(':') || User.Contains('\n'))
            throw new ArgumentException($"'{User}' is not a user name.");
    }

    protected override System.Security.SecureString? TakeSecret(GuestSession s) => _made.TryRemove(s, out var p) ? p : null;

    protected override async Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        RequireLinux(type, "Set-GuestUserPassword");
        string? plain = null;
        if (Password is not null) plain = new System.Net.NetworkCredential("", Password).Password;
        else if (Random.IsPresent)
        {
            plain = GuestCustomize.RandomPassword();
            var secure = new System.Security.SecureString();
            foreach (char c in plain) secure.AppendChar(c);
            secure.MakeReadOnly();
            _made[s] = secure;
        }
        return await GuestCustomize.SetLinuxPasswordAsync(s, User, plain, Locked.IsPresent, ct).ConfigureAwait(false);
    }
}

/// <summary>Runs a shell command in the guest with the guest's own programs, as virt-customize --run-command does.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "GuestCommand", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class InvokeGuestCommandCommand : GuestCustomizeCmdlet
{
    /// <summary>The shell command (run by the guest's /bin/sh with set -e).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<GuestSession, string> _output = new();

    protected override string OperationName => "run-command";
    protected override string Value => Command;

    protected override string? TakeOutput(GuestSession s) => _output.TryRemove(s, out var o) ? o : null;

    protected override async Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        RequireLinux(type, "Invoke-GuestCommand");
        _output[s] = await GuestCustomize.RunCommandAsync(s, root, Command, ct).ConfigureAwait(false);
        return Array.Empty<string>();
    }
}

/// <summary>Queues a shell command to run once at the guest's next boot, as virt-customize --firstboot-command does.</summary>
[Cmdlet(VerbsCommon.Add, "GuestFirstBootCommand", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class AddGuestFirstBootCommandCommand : GuestCustomizeCmdlet
{
    /// <summary>The shell command (the guest runs it with its own /bin/sh at the next boot).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    /// <summary>A name for the queued script (default: the command); letters, digits and underscores are kept.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    protected override string OperationName => "firstboot-command";
    protected override string Value => Command;

    protected override Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        if (type == "windows")
            throw new NotSupportedException("A Windows guest runs first-boot commands through a service wrapper (rhsrvany) that GuestFs does not ship; add the command to the guest's RunOnce key instead (the registry drive, New-ItemProperty).");
        RequireLinux(type, "Add-GuestFirstBootCommand");
        return GuestCustomize.AddFirstBootCommandAsync(s, Command, Name, ct);
    }
}

/// <summary>Installs packages with the guest's own package manager, as virt-customize --install does.</summary>
[Cmdlet(VerbsLifecycle.Install, "GuestPackage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Disk")]
[OutputType(typeof(GuestCustomizeResult))]
public sealed class InstallGuestPackageCommand : GuestCustomizeCmdlet
{
    /// <summary>The packages, as the guest's package manager names them.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = Array.Empty<string>();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<GuestSession, (string Output, string[]? Installed)> _done = new();

    protected override string OperationName => "install";
    protected override string Value => string.Join(",", Name);
    protected override bool NeedsNetwork => true;

    protected override void Validate() => GuestCustomize.ValidatePackageNames(Name);

    protected override string? TakeOutput(GuestSession s) => _done.TryGetValue(s, out var d) ? d.Output : null;
    protected override string[]? TakePackages(GuestSession s) => _done.TryRemove(s, out var d) ? d.Installed : null;

    protected override async Task<IReadOnlyList<string>> ChangeAsync(GuestSession s, string root, string type, CancellationToken ct)
    {
        if (type == "windows")
            throw new NotSupportedException("Windows has no package manager that GuestFs can run offline; copy the installer in (Copy-GuestItem) and run it at first logon (a RunOnce value in the registry drive).");
        RequireLinux(type, "Install-GuestPackage");
        _done[s] = await GuestCustomize.InstallPackagesAsync(s, root, Name, ct).ConfigureAwait(false);
        return Array.Empty<string>();
    }
}
