using System.Management.Automation;
using System.Management.Automation.Provider;
using System.Management.Automation.Runspaces;
using GuestFs.PowerShell.Commands;
using GuestFs.PowerShell.Registry;
using Xunit;

namespace GuestFs.Tests.Cmdlets;

/// <summary>The GuestRegistry provider and the .reg cmdlets as PowerShell sees them after Import-Module (no appliance).</summary>
public sealed class RegistryProviderSurfaceTests
{
    private static System.Management.Automation.PowerShell NewShell()
    {
        var ps = System.Management.Automation.PowerShell.Create(InitialSessionState.CreateDefault2());
        ps.AddCommand("Import-Module").AddParameter("Name", typeof(OpenGuestDiskCommand).Assembly.Location).Invoke();
        ps.Commands.Clear();
        return ps;
    }

    [Fact]
    public void The_provider_is_registered_with_ShouldProcess_and_the_property_interfaces()
    {
        using var ps = NewShell();
        var provider = ps.Runspace.SessionStateProxy.Provider.GetOne(GuestRegistryProvider.ProviderName);
        Assert.Equal(typeof(GuestRegistryProvider), provider.ImplementingType);
        Assert.True(provider.Capabilities.HasFlag(ProviderCapabilities.ShouldProcess));
        Assert.True(typeof(IPropertyCmdletProvider).IsAssignableFrom(provider.ImplementingType));
        Assert.True(typeof(IDynamicPropertyCmdletProvider).IsAssignableFrom(provider.ImplementingType));
        Assert.Empty(ps.Runspace.SessionStateProxy.Drive.GetAllForProvider(GuestRegistryProvider.ProviderName));
    }

    [Fact]
    public void A_drive_without_an_open_disk_says_how_to_open_a_Windows_guest()
    {
        using var ps = NewShell();
        var state = ps.Runspace.SessionStateProxy;
        var provider = state.Provider.GetOne(GuestRegistryProvider.ProviderName);
        var e = Assert.ThrowsAny<System.Exception>(() => state.Drive.New(new PSDriveInfo("W", provider, @"HKLM\SOFTWARE", "", null), "global"));
        var rec = Assert.IsAssignableFrom<IContainsErrorRecord>(e).ErrorRecord;
        Assert.StartsWith("NoGuestDiskOpen", rec.FullyQualifiedErrorId);
        Assert.Contains("-Inspect", e.Message);
    }

    [Fact]
    public void The_reg_cmdlets_are_there_and_Import_supports_WhatIf()
    {
        using var ps = NewShell();
        var import = ps.Runspace.SessionStateProxy.InvokeCommand.GetCmdlet("Import-GuestRegistry")!;
        Assert.True(import.Parameters.ContainsKey("WhatIf"));
        var export = ps.Runspace.SessionStateProxy.InvokeCommand.GetCmdlet("Export-GuestRegistry")!;
        Assert.True(export.Parameters.ContainsKey("Key"));
    }

    [Theory]
    [InlineData(7, "DWord", 4)]
    [InlineData(7L, "QWord", 11)]
    [InlineData("x", "String", 1)]
    public void Values_without_a_type_are_typed_from_their_NET_type(object value, string name, int type)
    {
        var (t, _) = GuestRegistryProvider.Encode(null, value);
        Assert.Equal(type, t);
        Assert.Equal(name, GuestFs.Engine.Library.Registry.RegType.Name(t));
    }

    [Fact]
    public void A_uint_DWord_above_int_MaxValue_keeps_its_bits()
    {
        var (t, data) = GuestRegistryProvider.Encode(4, 0xdeadbeefu);
        Assert.Equal(4, t);
        Assert.Equal(new byte[] { 0xef, 0xbe, 0xad, 0xde }, data);
        Assert.Equal(new byte[] { 0xef, 0xbe, 0xad, 0xde }, GuestRegistryProvider.Encode(4, 0xdeadbeefL).Data);
    }
}
