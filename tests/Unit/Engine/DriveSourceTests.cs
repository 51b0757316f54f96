using System;
using System.Linq;
using System.Text.Json.Nodes;
using GuestFs.Engine.Launch;
using Xunit;

namespace GuestFs.Tests.Engine;

public sealed class DriveSourceTests
{
    private static string Node(string uri, string? user = null, string? secret = null, bool skip = false) =>
        DriveUri.Parse(uri, user, secret, skip).ProtocolNode(secret is null ? null : "sec0").ToJsonString();

    [Fact]
    public void Nbd_tcp_and_unix_become_nbd_protocol_nodes()
    {
        Assert.Equal("{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"127.0.0.1\",\"port\":\"10809\"},\"export\":\"disk\"}", Node("nbd://127.0.0.1/disk"));
        Assert.Equal("{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"example.com\",\"port\":\"10900\"}}", Node("nbd://example.com:10900"));
        Assert.Equal("{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"/run/n.sock\"},\"export\":\"e1\"}", Node("nbd+unix:///e1?socket=/run/n.sock"));
    }

    [Fact]
    public void Ssh_curl_iscsi_rbd_gluster_nodes()
    {
        Assert.Equal("{\"driver\":\"ssh\",\"server\":{\"host\":\"h\",\"port\":\"2222\"},\"path\":\"/srv/d.img\",\"user\":\"bob\"}", Node("ssh://bob@h:2222/srv/d.img"));
        Assert.Equal("{\"driver\":\"https\",\"url\":\"https://h/d.img\",\"timeout\":10,\"sslverify\":false,\"username\":\"u\",\"password-secret\":\"sec0\"}",
            Node("https://h/d.img", "u", "pw", skip: true));
        Assert.Equal("{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"h:3260\",\"target\":\"iqn.2026-01.test:t1\",\"lun\":1,\"user\":\"c\",\"password-secret\":\"sec0\"}",
            Node("iscsi://h/iqn.2026-01.test:t1/1", "c", "s"));
        Assert.Equal("{\"driver\":\"rbd\",\"pool\":\"p\",\"image\":\"i\",\"server\":[{\"host\":\"m1\",\"port\":\"6789\"},{\"host\":\"m2\",\"port\":\"7000\"}],\"user\":\"admin\",\"key-secret\":\"sec0\"}",
            Node("rbd://m1,m2:7000/p/i", "admin", "key"));
        Assert.Equal("{\"driver\":\"rbd\",\"pool\":\"p\",\"image\":\"i\"}", Node("rbd:///p/i"));
        Assert.Equal("{\"driver\":\"gluster\",\"volume\":\"vol\",\"path\":\"/dir/d.img\",\"server\":[{\"type\":\"inet\",\"host\":\"g\",\"port\":\"24007\"}]}", Node("gluster://g/vol/dir/d.img"));
    }

    [Fact]
    public void Password_in_the_uri_becomes_the_secret_never_the_display()
    {
        var s = DriveUri.Parse("http://u:hunter2@h/d.img");
        Assert.Equal("hunter2", s.Secret);
        Assert.Equal("u", s.User);
        Assert.DoesNotContain("hunter2", s.Display);
        Assert.DoesNotContain("hunter2", s.ProtocolNode("sec0").ToJsonString());
        Assert.Equal("http://u:***@h/d.img", DriveUri.Redact("http://u:hunter2@h/d.img"));
    }

    [Theory]
    [InlineData("s3://bucket/x", "nbd://")]
    [InlineData("/local/file.img", "no scheme")]
    [InlineData("nbd+unix:///e", "socket=")]
    [InlineData("iscsi://h/iqn/x", "LUN")]
    [InlineData("gluster://h/vol", "VOLUME")]
    [InlineData("ssh://h/", "names no file")]
    [InlineData("rbd://m/poolonly", "POOL/IMAGE")]
    [InlineData("nbd:///e", "host")]
    public void Bad_uris_say_what_is_wrong(string uri, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => DriveUri.Parse(uri));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Skip_certificate_check_only_for_tls_schemes()
    {
        Assert.Throws<ArgumentException>(() => DriveUri.Parse("nbd://h/e", skipCertificateCheck: true));
        Assert.Contains("sslverify\":true", Node("https://h/d"));
    }

    [Fact]
    public void Cold_and_warm_get_the_same_nodes_and_device_with_per_drive_options()
    {
        var d = new QemuDrive(2, DriveUri.Parse("nbd://127.0.0.1:10900/x"), "raw", false, "writeback", null)
        { Discard = true, CopyOnRead = true, BlockSize = 4096 };
        var nodes = d.BlockdevNodes();
        Assert.Equal(2, nodes.Count);
        Assert.Equal("hd2-fmt", nodes[0]["node-name"]!.GetValue<string>());
        Assert.Equal("unmap", nodes[0]["discard"]!.GetValue<string>());
        Assert.Equal("unmap", nodes[0]["file"]!["discard"]!.GetValue<string>());
        Assert.Equal("{\"driver\":\"copy-on-read\",\"node-name\":\"hd2\",\"file\":\"hd2-fmt\"}", nodes[1].ToJsonString());
        Assert.Equal("scsi-hd,drive=hd2,bus=scsi.0,channel=0,scsi-id=2,lun=0,logical_block_size=4096,physical_block_size=4096",
            QemuCommandLine.DeviceArgument(d.Device()));
        var plan = new QemuLaunchPlan
        {
            Appliance = new GuestFs.Engine.Appliance.ApplianceFiles("/k", "/i", "/r", GuestFs.Engine.Appliance.ApplianceKind.Supermin, "/x", false) { RootUuid = "u" },
            SocketPath = "/s", Drives = new[] { d }, MemoryMB = 512, Smp = 1, UseKvm = false, Verbose = false,
        };
        var args = QemuCommandLine.Build(plan);
        var blockdevs = args.Select((a, i) => (a, i)).Where(x => x.a == "-blockdev").Select(x => args[x.i + 1]).ToList();
        Assert.Equal(nodes.Select(n => n.ToJsonString()), blockdevs);
    }

    [Fact]
    public void Secrets_become_secret_objects_not_command_line_text()
    {
        var d = new QemuDrive(0, DriveUri.Parse("iscsi://h/iqn.x:t/0", "u", "topsecret"), "raw", false, "writeback", null)
        { Secret = ("sec0", "/tmp/g/secret0") };
        Assert.Equal("secret,id=sec0,file=/tmp/g/secret0,format=raw", QemuCommandLine.ObjectArgument(d.SecretObject()!));
        Assert.DoesNotContain("topsecret", d.BlockdevNodes()[0].ToJsonString());
    }

    [Fact]
    public void No_procedure_number_literals_outside_the_generated_catalog()
    {
        Assert.Equal(7, LaunchSupport.Request("list_devices").Procedure);
        Assert.Equal(282, LaunchSupport.Request("internal_autosync").Procedure);
        Assert.Throws<InvalidOperationException>(() => LaunchSupport.Request("no_such_call"));
    }
}
