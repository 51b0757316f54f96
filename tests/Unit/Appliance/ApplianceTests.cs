using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;
using Xunit;

namespace GuestFs.Tests.Appliance;

/// <summary>One real appliance shared by the tests of a class (a launch costs ~10 s under TCG).</summary>
public sealed class ApplianceFixture : IAsyncLifetime
{
    public string WorkDir { get; } = Directory.CreateTempSubdirectory("guestfs-xunit-").FullName;
    public GuestSession Session { get; private set; } = null!;
    public string Image => Path.Combine(WorkDir, "scratch.img");

    public async Task InitializeAsync()
    {
        using (var f = File.Create(Image)) f.SetLength(256L << 20);
        Session = new GuestSession(GuestSessionOptions.FromEnvironment());
        Session.AddDrive(Image, new DriveOptions { Format = "raw", ReadOnly = false });
        await Session.LaunchAsync();
        await Session.PartDiskAsync("/dev/sda", "mbr");
        await Session.MkfsAsync("ext4", "/dev/sda1", label: "XUNIT");
        await Session.MountAsync("/dev/sda1", "/");
    }

    public async Task DisposeAsync()
    {
        await Session.DisposeAsync();
        Directory.Delete(WorkDir, true);
    }
}

[Trait("Category", "Appliance")]
public sealed class ApplianceTests : IClassFixture<ApplianceFixture>
{
    private readonly ApplianceFixture _f;
    private GuestSession S => _f.Session;

    public ApplianceTests(ApplianceFixture f) { _f = f; }

    [Fact]
    public async Task Launch_reaches_ready_and_lists_the_one_user_disk()
    {
        Assert.Equal(GuestSessionState.Ready, S.State);
        Assert.Equal(new[] { "/dev/sda" }, await S.ListDevicesAsync());
        Assert.Equal(new[] { "/dev/sda1" }, await S.ListPartitionsAsync());
    }

    [Fact]
    public async Task Mkfs_gives_an_ext4_filesystem_with_its_label()
    {
        Assert.Equal("ext4", await S.VfsTypeAsync("/dev/sda1"));
        Assert.Equal("XUNIT", await S.VfsLabelAsync("/dev/sda1"));
        var fs = await S.GetFileSystemsAsync();
        Assert.Contains(fs, x => x.Device == "/dev/sda1" && x.Type == "ext4" && x.Label == "XUNIT" && x.Size > 200_000_000);
    }

    [Fact]
    public async Task Written_file_reads_back_identically()
    {
        var data = new byte[70_000];
        new Random(42).NextBytes(data);
        await S.WriteAsync("/rw.bin", data);
        Assert.Equal(data, await S.ReadFileAsync("/rw.bin"));
        Assert.Equal(data.Length, await S.FilesizeAsync("/rw.bin"));
    }

    [Fact]
    public async Task Upload_64MiB_then_download_gives_the_same_SHA256()
    {
        var src = Path.Combine(_f.WorkDir, "up.bin");
        var rnd = new Random(7);
        var buf = new byte[1 << 20];
        using (var fs = File.Create(src))
            for (int i = 0; i < 64; i++) { rnd.NextBytes(buf); fs.Write(buf); }
        long progressEvents = 0;
        EventHandler<GuestProgressEventArgs> onProgress = (_, e) => Interlocked.Increment(ref progressEvents);
        S.Progress += onProgress;
        try
        {
            await using (var up = File.OpenRead(src))
                await S.UploadAsync(up, "/big.bin");
            var dst = Path.Combine(_f.WorkDir, "down.bin");
            await using (var down = File.Create(dst))
                await S.DownloadAsync("/big.bin", down);
            Assert.Equal(Sha(src), Sha(dst));
            Assert.Equal(64L << 20, await S.FilesizeAsync("/big.bin"));
        }
        finally { S.Progress -= onProgress; }
    }

    [Fact]
    public async Task Listing_a_missing_directory_fails_with_ENOENT_and_the_session_stays_usable()
    {
        var e = await Assert.ThrowsAsync<GuestFsException>(() => S.LsAsync("/no/such/dir"));
        Assert.Equal("ENOENT", e.ErrnoName);
        Assert.Contains("No such file or directory", e.Message);
        Assert.True(await S.IsDirAsync("/"));
    }

    [Fact]
    public async Task Directory_listing_uses_batched_stat_and_reports_types()
    {
        await S.MkdirPAsync("/tree/sub");
        await S.WriteAsync("/tree/a.txt", "hello"u8.ToArray());
        await S.LnSAsync("a.txt", "/tree/link");
        var items = await S.GetDirectoryEntriesAsync("/tree");
        Assert.Equal(new[] { "a.txt", "link", "sub" }, items.Select(i => i.Name).ToArray());
        Assert.Equal(5, items.Single(i => i.Name == "a.txt").Length);
        Assert.Equal("a.txt", items.Single(i => i.Name == "link").Target);
        Assert.StartsWith("d", items.Single(i => i.Name == "sub").Mode);
    }

    [Fact]
    public void The_accelerator_was_chosen_and_explained()
    {
        Assert.NotNull(S.AcceleratorInUse);
        Assert.False(string.IsNullOrEmpty(S.AcceleratorReason));
    }

    private static string Sha(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(fs));
    }
}

/// <summary>Launch and shutdown life cycle: what is left behind, and relaunch.</summary>
[Trait("Category", "Appliance")]
public sealed class LifecycleTests
{
    [Fact]
    public async Task Shutdown_and_qemu_death_leave_no_qemu_and_no_temp_dir_and_the_session_can_launch_again()
    {
        var dir = Directory.CreateTempSubdirectory("guestfs-xunit-").FullName;
        try
        {
            var img = Path.Combine(dir, "d.img");
            using (var f = File.Create(img)) f.SetLength(16L << 20);
            await using var s = new GuestSession(GuestSessionOptions.FromEnvironment() with { Accelerator = AcceleratorKind.Auto });
            s.AddDrive(img, new DriveOptions { Format = "raw" });
            await s.LaunchAsync();
            int pid = s.QemuProcessId!.Value;
            string tmp = s.TempDirectory!;
            Assert.True(Directory.Exists(tmp));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(tmp));
            // KVM is present but broken on these machines: Auto must fall back to TCG and say why.
            if (File.Exists("/dev/kvm") && s.AcceleratorInUse == AcceleratorKind.Tcg)
                Assert.Contains("TCG", s.AcceleratorReason!, StringComparison.OrdinalIgnoreCase);

            await s.ShutdownAsync();
            Assert.Equal(GuestSessionState.Config, s.State);
            Assert.False(ProcessAlive(pid), "qemu is still running after shutdown");
            Assert.False(Directory.Exists(tmp), "the private temp dir was not removed");

            await s.LaunchAsync();
            Assert.Equal(new[] { "/dev/sda" }, await s.ListDevicesAsync());

            // qemu killed while idle: the session notices, says why, cleans up, and can launch again.
            pid = s.QemuProcessId!.Value;
            tmp = s.TempDirectory!;
            var quit = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            s.SubprocessQuit += (_, why) => quit.TrySetResult(why);
            s.KillSubprocessForTesting();
            Assert.Contains("exited unexpectedly", await quit.Task.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(GuestSessionState.Config, s.State);
            Assert.False(Directory.Exists(tmp), "the temp dir of the dead appliance was not removed");
            await Assert.ThrowsAsync<GuestFs.Engine.Protocol.GuestFsStateException>(() => s.ListDevicesAsync());

            await s.LaunchAsync();
            Assert.Equal(new[] { "/dev/sda" }, await s.ListDevicesAsync());
            pid = s.QemuProcessId!.Value;
            tmp = s.TempDirectory!;
            await s.DisposeAsync();
            Assert.Equal(GuestSessionState.Closed, s.State);
            Assert.False(ProcessAlive(pid));
            Assert.False(Directory.Exists(tmp));
        }
        finally { Directory.Delete(dir, true); }
    }

    private static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // A zombie (state Z) has exited.
            int close = stat.LastIndexOf(')');
            return stat.Length > close + 2 && stat[close + 2] != 'Z';
        }
        catch (IOException) { return false; }
    }
}
