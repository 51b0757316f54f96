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
}
