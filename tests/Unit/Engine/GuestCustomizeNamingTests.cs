using System;
using GuestFs.Engine.Library;
using Xunit;

namespace GuestFs.Tests.Engine;

/// <summary>The names the customization code gives things: first-boot script files and host names it accepts.</summary>
public sealed class GuestCustomizeNamingTests
{
    [Theory]
    [InlineData("apt-get update", "apt-get-update")]
    [InlineData("echo one >> /var/lib/x", "echo-one-----var-lib-x")]
    [InlineData("ssh_keys", "ssh_keys")]
    [InlineData("Ünïcode name", "-n-code-name")]
    public void First_boot_script_names_keep_letters_digits_and_underscores(string name, string expected) =>
        Assert.Equal(expected, GuestCustomize.FirstBootScriptName(name));

    [Fact]
    public void First_boot_script_names_stop_at_60_characters()
    {
        string name = GuestCustomize.FirstBootScriptName(new string('a', 100));
        Assert.Equal(60, name.Length);
    }

    [Theory]
    [InlineData("web01")]
    [InlineData("web01.example.com")]
    [InlineData("a-b.c-d")]
    public void Host_names_of_labels_are_accepted(string name) => GuestCustomize.ValidateHostname(name);

    [Theory]
    [InlineData("bad_name")]
    [InlineData("-lead")]
    [InlineData("trail-")]
    [InlineData("double..dot")]
    [InlineData("")]
    public void Other_host_names_are_refused_naming_them(string name)
    {
        var e = Assert.Throws<System.ArgumentException>(() => GuestCustomize.ValidateHostname(name));
        Assert.Contains($"'{name}'", e.Message);
    }

    [Fact]
    public void Apt_installs_as_virt_customize_does_update_first_non_interactive_new_config_files()
    {
        string c = GuestCustomize.InstallCommand("apt", new[] { "hello", "cowsay=3.03+dfsg2-8" });
        var lines = c.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("export DEBIAN_FRONTEND=noninteractive", lines[0]);
        Assert.Contains("--force-confnew", lines[1]);
        Assert.Equal("apt-get $apt_opts update", lines[2]);
        Assert.Equal("apt-get $apt_opts install hello cowsay=3.03+dfsg2-8", lines[3]);
        Assert.Equal("dnf -y install vim-enhanced\n", GuestCustomize.InstallCommand("dnf", new[] { "vim-enhanced" }));
        Assert.Equal("zypper -n in -l vim\n", GuestCustomize.InstallCommand("zypper", new[] { "vim" }));
    }

    [Theory]
    [InlineData("hello; rm -rf /")]
    [InlineData("$(reboot)")]
    [InlineData("two words")]
    [InlineData("-y")]
    [InlineData("")]
    public void Package_names_that_are_not_names_are_refused(string name) =>
        Assert.Throws<ArgumentException>(() => GuestCustomize.ValidatePackageNames(new[] { name }));

    [Theory]
    [InlineData("unknown")]
    [InlineData("portage")]
    public void A_guest_without_a_package_manager_we_drive_is_refused_with_what_to_do_instead(string pm)
    {
        var e = Assert.Throws<NotSupportedException>(() => GuestCustomize.InstallCommand(pm, new[] { "hello" }));
        Assert.Contains(pm == "unknown" ? "Add-GuestFirstBootCommand" : "Invoke-GuestCommand", e.Message);
    }

    [Fact]
    public void New_packages_are_those_added_or_at_another_version()
    {
        string before = "base-files 12.4\nhello 2.10-2\nlibc6 2.36-9\n";
        string after = "base-files 12.4\nhello 2.10-3\nlibc6 2.36-9\nlibfoo1 1.0-1\n";
        Assert.Equal(new[] { "hello 2.10-3", "libfoo1 1.0-1" }, GuestCustomize.NewPackages(before, after));
        Assert.Empty(GuestCustomize.NewPackages(after, after));
    }
}
