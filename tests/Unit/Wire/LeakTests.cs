using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;
using Xunit;

namespace GuestFs.Tests.Wire;

public sealed class LeakTests
{
    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    [Fact]
    public async Task Fifty_open_call_close_cycles_leave_no_descriptor_or_socket_behind()
    {
        async Task Cycle()
        {
            await using var d = new FakeDaemon();
            d.Handlers[36] = (_, _) => Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Ok(w => w.WriteBool(true)));
            d.Start(sendLaunchFlag: false);
            var s = new GuestSession(new GuestSessionOptions());
            s.AttachForTesting(d.LibrarySide);
            Assert.True(await s.ExistsAsync("/etc"));
            await s.DisposeAsync();
            Assert.Equal(GuestSessionState.Closed, s.State);
        }
        await Cycle(); // warm up lazily created things first
        GC.Collect(); GC.WaitForPendingFinalizers();
        int before = OpenDescriptors();
        for (int i = 0; i < 50; i++) await Cycle();
        GC.Collect(); GC.WaitForPendingFinalizers();
        // Other tests run in parallel in this process and open files too: allow a little slack,
        // far below the 100+ descriptors that 50 leaked socket pairs would hold.
        Assert.InRange(OpenDescriptors(), 0, before + 8);
    }

    [Theory]
    [InlineData("short.txt")]
    [InlineData("ünïcödé ☃.bin")]
    public void Partial_names_keep_short_names_and_are_hidden(string name)
    {
        string p = PartialName.For(name);
        Assert.StartsWith("." + name + ".guestfs-partial-", p);
        Assert.NotEqual(p, PartialName.For(name)); // random part
        Assert.Equal("." + name + ".guestfs-partial", PartialName.For(name, random: false));
    }

    [Fact]
    public void Partial_names_of_long_names_fit_in_255_bytes_and_never_split_a_character()
    {
        foreach (var name in new[] { new string('n', 255), string.Concat(Enumerable.Repeat("☃", 85)), string.Concat(Enumerable.Repeat("😀", 63)) })
        {
            string p = PartialName.For(name);
            Assert.True(System.Text.Encoding.UTF8.GetByteCount(p) <= 255, p);
            Assert.DoesNotContain('\uFFFD', System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(p)));
            Assert.Contains(".guestfs-partial-", p);
        }
    }
}
