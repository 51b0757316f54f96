using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using GuestFs.Engine.Xdr;
using Xunit;

namespace GuestFs.Tests.Wire;

/// <summary>Pipelined batches of plain calls (GuestSession.InvokeBatchAsync) against the fake daemon, which answers in order as guestfsd does.</summary>
public sealed class BatchTests
{
    private static RpcRequest Readlink(string path) => new(168, "readlink", 0UL, w => w.WriteString(path));

    [Fact]
    public async Task Replies_come_back_in_order_with_each_error_on_its_own_call_and_requests_overlap()
    {
        await using var d = new FakeDaemon();
        d.Handlers[168] = async (req, _) =>
        {
            string path = req.Reader().ReadString();
            await Task.Yield();
            return path.EndsWith("/bad", StringComparison.Ordinal)
                ? new FakeDaemon.Error("EINVAL", "not a link: " + path)
                : new FakeDaemon.Ok(w => w.WriteString("target-of:" + path));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        var requests = Enumerable.Range(0, 300).Select(i => Readlink(i % 97 == 5 ? $"/n{i}/bad" : $"/n{i}")).ToArray();
        var replies = await s.InvokeBatchAsync(requests, XdrDecoders.String).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(300, replies.Length);
        for (int i = 0; i < 300; i++)
        {
            if (i % 97 == 5)
            {
                Assert.False(replies[i].Ok);
                Assert.Equal("EINVAL", replies[i].Error!.ErrnoName);
                Assert.Contains($"/n{i}/bad", replies[i].Error!.Message);
            }
            else Assert.Equal($"target-of:/n{i}", replies[i].Value);
        }
        // Requests were waiting while replies were sent: the calls overlapped.
        Assert.True(d.RequestsBeforeReply > 50, $"only {d.RequestsBeforeReply} requests arrived ahead of a reply");
        Assert.Equal(300, s.CallCount);
        // The session goes on with single calls afterwards.
        Assert.Equal("target-of:/after", await s.ReadlinkAsync("/after"));
    }

    [Fact]
    public async Task Cancelling_stops_sending_reads_what_is_due_and_leaves_the_session_in_step()
    {
        await using var d = new FakeDaemon();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        d.Handlers[168] = async (req, _) =>
        {
            string path = req.Reader().ReadString();
            if (path == "/n10") { reached.TrySetResult(); await gate.Task; }
            return new FakeDaemon.Ok(w => w.WriteString("r:" + path));
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        using var cts = new CancellationTokenSource();
        var requests = Enumerable.Range(0, 5000).Select(i => Readlink($"/n{i}")).ToArray();
        var batch = s.InvokeBatchAsync(requests, XdrDecoders.String, cts.Token);
        await reached.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cts.Cancel();
        gate.SetResult();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batch.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(d.Requests.Count < 5000, $"{d.Requests.Count} requests were sent after the cancel");
        // Every reply to a request that went out was read: the next call gets its own.
        Assert.Equal("r:/next", await s.ReadlinkAsync("/next").WaitAsync(TimeSpan.FromSeconds(30)));
    }

    private static void WriteStat(XdrWriter w, long ino, long mode)
    {
        for (int f = 0; f < 22; f++) w.WriteInt64(f == 1 ? ino : f == 2 ? mode : f == 7 ? 42 : 0);
    }

    [Fact]
    public async Task LstatMany_groups_by_directory_and_a_failed_group_is_asked_path_by_path()
    {
        await using var d = new FakeDaemon();
        int lists = 0, singles = 0;
        // internal_lstatnslist: "/mixed" fails as a whole (one name is too long); "/gone" does
        // not exist; elsewhere "missing" is absent (ino -1) and the rest are files.
        d.Handlers[423] = (req, _) =>
        {
            Interlocked.Increment(ref lists);
            var r = req.Reader();
            string dir = r.ReadString();
            int n = (int)r.ReadUInt32();
            var names = new string[n];
            for (int k = 0; k < n; k++) names[k] = r.ReadString();
            FakeDaemon.Reply reply = dir switch
            {
                "/mixed" => new FakeDaemon.Error("ENAMETOOLONG", "File name too long"),
                "/gone" => new FakeDaemon.Error("ENOENT", "No such file or directory"),
                _ => new FakeDaemon.Ok(w =>
                {
                    w.WriteUInt32((uint)names.Length);
                    foreach (var name in names) WriteStat(w, name == "missing" ? -1 : 7, 0x81A4);
                }),
            };
            return Task.FromResult(reply);
        };
        d.Handlers[422] = (req, _) =>
        {
            Interlocked.Increment(ref singles);
            string path = req.Reader().ReadString();
            FakeDaemon.Reply reply = path.Length > 40
                ? new FakeDaemon.Error("ENAMETOOLONG", "File name too long")
                : new FakeDaemon.Ok(w => WriteStat(w, 9, 0x41ED));
            return Task.FromResult(reply);
        };
        d.Start(sendLaunchFlag: false);
        using var s = new GuestSession(new GuestSessionOptions());
        s.AttachForTesting(d.LibrarySide);

        string longName = "/mixed/" + new string('n', 60);
        var paths = new[] { "/a/one", "/b/two", "/a/missing", "/mixed/ok", longName, "/gone/x", "/a/three" };
        var r = await s.LstatManyAsync(paths).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(4, lists);   // /a, /b, /mixed, /gone: one call per directory
        Assert.Equal(2, singles); // the two paths of the failed /mixed group, alone
        Assert.Equal(7, r[0].Value!.StIno);
        Assert.Equal(7, r[1].Value!.StIno);
        Assert.True(r[2].Ok); Assert.Null(r[2].Value);
        Assert.Equal(9, r[3].Value!.StIno);
        Assert.Equal("ENAMETOOLONG", r[4].Error!.ErrnoName);
        Assert.True(r[5].Ok); Assert.Null(r[5].Value);
        Assert.Equal(7, r[6].Value!.StIno);
    }
}
