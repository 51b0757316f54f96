using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

public sealed class SessionConcurrencyTests
{
    [Fact]
    public async Task Many_threads_calling_one_session_are_serialised_and_each_gets_its_own_reply()
    {
        await using var d = new FakeDaemon();
        // echo: the reply is the argument, after a pause long enough for a second request
        // written before this reply to be waiting on the socket (FakeDaemon counts those)
        d.Handlers[168] = async (req, _) =>
        {
            string path = req.Reader().ReadString();
            await Task.Delay(2);
            return new FakeDaemon.Ok(w => w.WriteString("target-of:" + path));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        var failures = new ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            for (int i = 0; i < 40; i++)
            {
                string p = $"/t{t}/n{i}";
                string got = (i % 2 == 0) ? await s.ReadlinkAsync(p) : s.Readlink(p);
                if (got != "target-of:" + p) failures.Add($"{p} got {got}");
            }
        })).ToArray();
        await Task.WhenAll(threads).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(failures);
        Assert.Equal(0, d.RequestsBeforeReply);
        Assert.Equal(320, s.CallCount);
        // Serials are unique and consecutive.
        var serials = d.Requests.Select(r => r.Header.Serial).OrderBy(x => x).ToArray();
        Assert.Equal(Enumerable.Range(0, 320).Select(i => ProtocolConstants.FirstSerial + (uint)i), serials);
    }

    [Fact]
    public async Task A_cancelled_plain_call_returns_at_once_and_the_next_call_still_gets_its_own_reply()
    {
        await using var d = new FakeDaemon();
        var release = new TaskCompletionSource();
        var slowArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        d.Handlers[168] = async (req, _) =>
        {
            string path = req.Reader().ReadString();
            if (path == "/slow") { slowArrived.TrySetResult(); await release.Task; }
            return new FakeDaemon.Ok(w => w.WriteString("r:" + path));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);
        using var cts = new CancellationTokenSource();
        var slow = s.ReadlinkAsync("/slow", cts.Token);
        // Cancel once the daemon is working on it (a fixed delay raced the send on a busy machine).
        await slowArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow.WaitAsync(TimeSpan.FromSeconds(10)));
        var next = s.ReadlinkAsync("/fast");
        Assert.False(next.IsCompleted, "the next call waits for the abandoned reply");
        release.SetResult();
        Assert.Equal("r:/fast", await next.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(GuestSessionState.Ready, s.State);
    }

    [Fact]
    public async Task The_appliance_dying_mid_call_returns_the_session_to_config_with_a_clear_error()
    {
        await using var d = new FakeDaemon();
        d.Handlers[168] = (req, fd) => { fd.Kill(); return Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.None()); };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        string? quit = null;
        s.SubprocessQuit += (_, why) => quit = why;
        s.AttachForTesting(d.LibrarySide);
        var e = await Assert.ThrowsAsync<GuestFsProtocolException>(() => s.ReadlinkAsync("/x").WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("closed the connection", e.Message);
        Assert.Equal(GuestSessionState.Config, s.State);
        Assert.NotNull(quit);
        var again = await Assert.ThrowsAsync<GuestFsStateException>(() => s.ReadlinkAsync("/x"));
        Assert.Contains("not running", again.Message);
    }

    [Fact]
    public async Task A_blocking_twin_reads_its_reply_on_the_calling_thread_and_still_sees_progress_and_death()
    {
        await using var d = new FakeDaemon();
        int progressSeen = 0;
        d.Handlers[168] = async (req, fd) =>
        {
            string path = req.Reader().ReadString();
            if (path == "/die") { fd.Kill(); return new FakeDaemon.None(); }
            await fd.SendProgressAsync(req, 1, 2);
            await Task.Delay(20);
            return new FakeDaemon.Ok(w => w.WriteString("r:" + path));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.Progress += (_, _) => Interlocked.Increment(ref progressSeen);
        s.AttachForTesting(d.LibrarySide);
        Assert.Equal("r:/a", await Task.Run(() => s.Readlink("/a")));
        Assert.Equal(1, progressSeen);
        Assert.Equal("r:/b", await s.ReadlinkAsync("/b"));
        var e = Assert.Throws<GuestFsProtocolException>(() => s.Readlink("/die"));
        Assert.Contains("closed the connection", e.Message);
        Assert.Equal(GuestSessionState.Config, s.State);
    }

    [Theory]
    [InlineData(0x1234_5678u, 4u, "program")]
    [InlineData(0x2000_F5F5u, 3u, "version")]
    public async Task A_reply_with_a_foreign_program_or_version_breaks_the_session_with_a_clear_error(uint program, uint version, string named)
    {
        await using var d = new FakeDaemon();
        d.Handlers[168] = (req, _) =>
        {
            using var w = new XdrWriter();
            new MessageHeader(program, version, req.Header.Procedure, 1, req.Header.Serial, 0, 0, 0).Write(w);
            w.WriteString("looks fine otherwise");
            return Task.FromResult<FakeDaemon.Reply>(new FakeDaemon.Raw(w.GetFrame().ToArray()));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);
        var e = await Assert.ThrowsAsync<GuestFsProtocolException>(() => s.ReadlinkAsync("/x").WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(named, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(GuestSessionState.Config, s.State);
        Assert.ThrowsAny<InvalidOperationException>(() => s.Readlink("/y"));
    }

    [Fact]
    public async Task The_fake_daemon_sees_a_request_written_before_the_previous_reply()
    {
        // The check the serialisation test relies on must be able to fire: a client that
        // writes its second request without waiting for the first reply is counted.
        await using var d = new FakeDaemon();
        d.Handlers[168] = async (req, _) =>
        {
            string path = req.Reader().ReadString();
            await Task.Delay(20);
            return new FakeDaemon.Ok(w => w.WriteString("r:" + path));
        };
        d.Start(sendLaunchFlag: false);
        byte[] Frame(uint serial, string path)
        {
            using var w = new XdrWriter();
            new MessageHeader(ProtocolConstants.Program, ProtocolConstants.Version, 168, 0, serial, 0, 0, 0).Write(w);
            w.WriteString(path);
            return w.GetFrame().ToArray();
        }
        await d.LibrarySide.WriteAsync(Frame(1, "/a").Concat(Frame(2, "/b")).ToArray());
        var buf = new byte[4096];
        int got = 0;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (d.Requests.Count < 2 && DateTime.UtcNow < deadline) got += await d.LibrarySide.ReadAsync(buf.AsMemory(got));
        Assert.True(d.RequestsBeforeReply >= 1, "two back-to-back requests must be seen as overlapping");
    }
}
