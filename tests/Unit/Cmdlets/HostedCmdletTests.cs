using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using GuestFs.PowerShell.Commands;
using Xunit;

namespace GuestFs.Tests.Cmdlets;

/// <summary>
/// The module hosted in-process through the PowerShell SDK: parameter binding,
/// ShouldProcess, error records and progress records as a pwsh user gets them,
/// without starting a child pwsh or an appliance.
/// </summary>
public sealed class HostedCmdletTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gfs-hosted-" + Guid.NewGuid().ToString("N")[..8]);

    public HostedCmdletTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch { }
    }

    private static System.Management.Automation.PowerShell Shell()
    {
        var ps = System.Management.Automation.PowerShell.Create(InitialSessionState.CreateDefault2());
        ps.AddCommand("Import-Module").AddParameter("Name", typeof(OpenGuestDiskCommand).Assembly.Location).Invoke();
        ps.Commands.Clear();
        Assert.False(ps.HadErrors);
        return ps;
    }

    [Fact]
    public void The_sdk_gives_the_default_modules_so_pipelines_run_as_in_pwsh()
    {
        using var ps = Shell();
        var r = ps.AddScript("Get-Command -Noun GuestDisk | Where-Object { $_.CommandType -eq 'Cmdlet' -and $_.Source -like 'GuestFs*' -and $_.Verb -in 'Open', 'Get', 'Close' } | Sort-Object Name | ForEach-Object Name").Invoke();
        Assert.False(ps.HadErrors, string.Join("; ", ps.Streams.Error.Select(e => e.ToString())));
        Assert.Equal(new[] { "Close-GuestDisk", "Get-GuestDisk", "Open-GuestDisk" }, r.Select(x => x.ToString()).ToArray());
    }

    [Fact]
    public void A_missing_image_is_an_ObjectNotFound_error_record_naming_it()
    {
        using var ps = Shell();
        string missing = Path.Combine(_dir, "nope.qcow2");
        ps.AddCommand("Open-GuestDisk").AddParameter("Path", missing);
        var e = Assert.ThrowsAny<RuntimeException>(() => ps.Invoke());
        var rec = e.ErrorRecord;
        Assert.Equal("DiskImageNotFound,GuestFs.PowerShell.Commands.OpenGuestDiskCommand", rec.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, rec.CategoryInfo.Category);
        Assert.Equal(missing, rec.TargetObject?.ToString());
        Assert.Contains("New-GuestDiskImage", rec.Exception.Message);
    }

    [Fact]
    public void WhatIf_creates_nothing_and_a_real_run_writes_progress_and_the_image()
    {
        string img = Path.Combine(_dir, "new.img");
        using (var ps = Shell())
        {
            ps.AddCommand("New-GuestDiskImage").AddParameter("Path", img).AddParameter("Size", 16L << 20)
              .AddParameter("PartitionStyle", "None").AddParameter("WhatIf");
            ps.Invoke();
            Assert.False(ps.HadErrors);
            Assert.False(File.Exists(img), "-WhatIf must not create the image");
        }
        using (var ps = Shell())
        {
            ps.AddCommand("New-GuestDiskImage").AddParameter("Path", img).AddParameter("Size", 16L << 20).AddParameter("PartitionStyle", "None");
            var output = ps.Invoke();
            Assert.False(ps.HadErrors, string.Join("; ", ps.Streams.Error.Select(x => x.ToString())));
            Assert.Equal(16L << 20, new FileInfo(img).Length);
            Assert.Contains(ps.Streams.Progress, p => p.Activity.Contains("new.img", StringComparison.Ordinal));
            Assert.Equal(ProgressRecordType.Completed, ps.Streams.Progress.Last().RecordType);
            Assert.Single(output);
        }
    }

    [Fact]
    public void An_existing_file_is_refused_without_Force_and_left_untouched()
    {
        string img = Path.Combine(_dir, "keep.img");
        File.WriteAllText(img, "precious");
        using var ps = Shell();
        ps.AddCommand("New-GuestDiskImage").AddParameter("Path", img).AddParameter("Size", 16L << 20).AddParameter("PartitionStyle", "None");
        var e = Assert.ThrowsAny<RuntimeException>(() => ps.Invoke());
        Assert.Contains("-Force", e.Message);
        Assert.Equal("precious", File.ReadAllText(img));
    }

    [Fact]
    public void Size_binds_from_a_PowerShell_size_literal_and_rejects_text()
    {
        using var ps = Shell();
        ps.AddScript($"New-GuestDiskImage -Path '{Path.Combine(_dir, "lit.img")}' -Size 8MB -PartitionStyle None | ForEach-Object Length").Invoke();
        Assert.Equal(8L << 20, new FileInfo(Path.Combine(_dir, "lit.img")).Length);
        using var ps2 = Shell();
        ps2.AddCommand("New-GuestDiskImage").AddParameter("Path", Path.Combine(_dir, "bad.img")).AddParameter("Size", "lots");
        var e = Assert.ThrowsAny<ParameterBindingException>(() => ps2.Invoke());
        Assert.Equal("Size", e.ParameterName);
    }
}
