using System;
using System.Collections.Generic;

namespace GuestFs.Engine.Library;

/// <summary>
/// One operating system found by inspection: the fields virt-inspector reports.
/// Strings the daemon could not determine are "unknown" (as libguestfs returns them).
/// </summary>
public sealed record GuestOSInfo
{
    /// <summary>The root filesystem (the key of every other inspection call), e.g. /dev/sda2 or /dev/vg/root.</summary>
    public string Root { get; init; } = "";

    /// <summary>linux, windows, freebsd, netbsd, openbsd, hurd, dos, minix or unknown.</summary>
    public string Type { get; init; } = "unknown";

    /// <summary>debian, ubuntu, fedora, rhel, windows … or unknown.</summary>
    public string Distro { get; init; } = "unknown";

    public string ProductName { get; init; } = "unknown";

    /// <summary>Windows edition (Client, Server …); unknown elsewhere.</summary>
    public string ProductVariant { get; init; } = "unknown";

    public int MajorVersion { get; init; }

    public int MinorVersion { get; init; }

    /// <summary>x86_64, i386, aarch64 … or unknown.</summary>
    public string Architecture { get; init; } = "unknown";

    public string Hostname { get; init; } = "unknown";

    /// <summary>deb, rpm, pacman, apk, ebuild, pisi, pkgsrc, xbps … or unknown.</summary>
    public string PackageFormat { get; init; } = "unknown";

    /// <summary>apt, dnf, yum, zypper, pacman, apk … or unknown.</summary>
    public string PackageManagement { get; init; } = "unknown";

    /// <summary>The libosinfo short id (debian12, fedora40, win10 …), computed as libguestfs does; unknown when none fits.</summary>
    public string OSInfo { get; init; } = "unknown";

    /// <summary>
    /// Where the guest mounts its filesystems (mount point → device), from its
    /// fstab or registry; ordered shortest mount point first, the order to mount them in.
    /// Plain records that travel (JSON, CSV, remoting); <c>Mountpoints['/']</c> gives the device.
    /// </summary>
    public GuestMountpointList Mountpoints { get; init; } = GuestMountpointList.Empty;

    /// <summary>Every filesystem that belongs to this operating system.</summary>
    public IReadOnlyList<string> Filesystems { get; init; } = GuestTextList.Empty;

    /// <summary>Windows drive letters (C → /dev/sda2) in letter order; empty elsewhere. <c>DriveMappings['C']</c> gives the device.</summary>
    public GuestDriveLetterList DriveMappings { get; init; } = GuestDriveLetterList.Empty;

    /// <summary>Installed applications when asked for (null when not requested).</summary>
    public IReadOnlyList<GuestApplication>? Applications { get; init; }

    public override string ToString() => $"{ProductName} ({Root})";
}

/// <summary>An installed package, as libguestfs's application2 struct describes it.</summary>
public sealed record GuestApplication
{
    public string Name { get; init; } = "";

    /// <summary>The name shown to users (Windows); empty for Linux packages.</summary>
    public string DisplayName { get; init; } = "";

    public int Epoch { get; init; }

    /// <summary>The upstream version (for Debian the part before the last '-').</summary>
    public string Version { get; init; } = "";

    /// <summary>The packaging release (for Debian the part after the last '-'; empty for native packages).</summary>
    public string Release { get; init; } = "";

    public string Arch { get; init; } = "";

    public string InstallPath { get; init; } = "";

    public string Publisher { get; init; } = "";

    public string Url { get; init; } = "";

    public string SourcePackage { get; init; } = "";

    public string Summary { get; init; } = "";

    public string Description { get; init; } = "";

    /// <summary>The full version as the package manager writes it: [epoch:]version[-release].</summary>
    public string FullVersion =>
        (Epoch > 0 ? $"{Epoch}:" : "") + Version + (Release.Length > 0 ? "-" + Release : "");

    public override string ToString() => $"{Name} {FullVersion}";
}
