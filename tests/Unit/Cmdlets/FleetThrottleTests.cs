using System.IO;
using GuestFs.PowerShell;
using Xunit;

namespace GuestFs.Tests.Cmdlets;

public sealed class FleetThrottleTests
{
    private const long MB = 1024 * 1024;

    [Theory]
    [InlineData(2, 24_000L, 2)]     // this machine: cores decide
    [InlineData(16, 24_000L, 16)]
    [InlineData(64, 24_000L, 40)]   // memory decides: 24,000 MB / 600 MB
    [InlineData(8, 1_500L, 2)]      // little memory: two sessions fit
    [InlineData(8, 100L, 1)]        // never below one
    [InlineData(0, 24_000L, 1)]
    [InlineData(4, 0L, 4)]          // memory unknown: cores only
    public void The_default_is_one_session_per_core_within_available_memory(int cores, long availableMB, int expected)
    {
        var (limit, reason) = FleetThrottle.Default(cores, availableMB * MB);
        Assert.Equal(expected, limit);
        Assert.Contains("core(s)", reason);
        Assert.Contains(availableMB > 0 ? "MB available" : "unknown", reason);
    }

    [Fact]
    public void Available_memory_comes_from_meminfo_and_is_zero_when_unreadable()
    {
        string f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n");
            Assert.Equal(20_000_000L * 1024, FleetThrottle.ReadAvailableMemory(f));
            File.WriteAllText(f, "garbage\n");
            Assert.Equal(0, FleetThrottle.ReadAvailableMemory(f));
        }
        finally { File.Delete(f); }
        Assert.Equal(0, FleetThrottle.ReadAvailableMemory("/no/such/meminfo"));
        Assert.True(FleetThrottle.ReadAvailableMemory() > 0, "this Linux host has /proc/meminfo");
    }
}
