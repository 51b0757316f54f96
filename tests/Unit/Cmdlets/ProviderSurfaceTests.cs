using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Provider;
using System.Management.Automation.Runspaces;
using GuestFs.PowerShell.Commands;
using GuestFs.PowerShell.Provider;
using Xunit;

namespace GuestFs.Tests.Cmdlets;

/// <summary>The GuestFs provider as PowerShell sees it after Import-Module (no appliance).</summary>
public sealed class ProviderSurfaceTests
{
    private static System.Management.Automation.PowerShell NewShell()
    {
        var ps = System.Management.Automation.PowerShell.Create(InitialSessionState.CreateDefault2());
        ps.AddCommand("Import-Module").AddParameter("Name", typeof(OpenGuestDiskCommand).Assembly.Location).Invoke();
        ps.Commands.Clear();
        return ps;
    }

    [Fact]
    public void Importing_the_module_registers_the_provider_with_ShouldProcess_and_Filter()
    {
        using var ps = NewShell();
        var provider = ps.Runspace.SessionStateProxy.Provider.GetOne(GuestFsProvider.ProviderName);
        Assert.Equal(typeof(GuestFsProvider), provider.ImplementingType);
        Assert.True(provider.Capabilities.HasFlag(ProviderCapabilities.ShouldProcess));
        Assert.True(provider.Capabilities.HasFlag(ProviderCapabilities.Filter));
        Assert.Empty(ps.Runspace.SessionStateProxy.Drive.GetAllForProvider(GuestFsProvider.ProviderName));
    }

    [Fact]
    public void A_new_drive_without_an_open_disk_says_how_to_get_one()
    {
        using var ps = NewShell();
        var state = ps.Runspace.SessionStateProxy;
        var provider = state.Provider.GetOne(GuestFsProvider.ProviderName);
        var e = Assert.ThrowsAny<System.Exception>(() => state.Drive.New(new PSDriveInfo("vm", provider, "/", "", null), "global"));
        var rec = Assert.IsAssignableFrom<IContainsErrorRecord>(e).ErrorRecord;
        Assert.StartsWith("NoGuestDiskOpen", rec.FullyQualifiedErrorId);
        Assert.Contains("-ImagePath", e.Message);
        Assert.Empty(state.Drive.GetAllForProvider(GuestFsProvider.ProviderName));
    }

    [Fact]
    public void New_PSDrive_gains_the_GuestFs_parameters_and_Mount_GuestFs_has_PSDrive()
    {
        foreach (var name in new[] { "Disk", "ImagePath", "Writable", "Device" })
            Assert.NotNull(typeof(GuestFsDriveParameters).GetProperty(name)!.GetCustomAttributes(typeof(ParameterAttribute), false).SingleOrDefault());
        using var ps = NewShell();
        var mount = ps.Runspace.SessionStateProxy.InvokeCommand.GetCmdlet("Mount-GuestFs")!;
        Assert.True(mount.Parameters.ContainsKey("PSDrive"));
    }
}
