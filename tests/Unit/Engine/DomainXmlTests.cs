using System;
using System.Linq;
using GuestFs.Engine.Launch;
using Xunit;

namespace GuestFs.Tests.Engine;

public sealed class DomainXmlTests
{
    private static string Domain(string devices, string rootAttributes = "") =>
        $"<domain type='kvm'{rootAttributes}><name>web01</name><memory>1024</memory><devices>{devices}</devices></domain>";

    [Fact]
    public void File_block_and_network_disks_in_document_order_with_format_readonly_and_block_size()
    {
        var info = DomainXml.Parse(Domain(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/web01.qcow2'/><target dev='vda'/></disk>" +
            "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda'/><readonly/></disk>" +
            "<disk type='block' device='disk'><source dev='/dev/vg0/data'/><target dev='vdb'/><readonly/><blockio logical_block_size='4096'/></disk>" +
            "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='exp1'><host name='10.0.0.5' port='10810'/></source><target dev='vdc'/></disk>"));
        Assert.Equal("web01", info.Name);
        Assert.False(info.Running);
        Assert.Equal(new[] { "vda", "vdb", "vdc" }, info.Disks.Select(d => d.Target));
        Assert.Equal("/var/lib/libvirt/images/web01.qcow2", info.Disks[0].Source.Display);
        Assert.Equal("qcow2", info.Disks[0].Format);
        Assert.False(info.Disks[0].ReadOnly);
        Assert.True(info.Disks[1].ReadOnly);
        Assert.Equal(4096, info.Disks[1].BlockSize);
        Assert.Null(info.Disks[1].Format);
        var nbd = Assert.IsType<NbdDriveSource>(info.Disks[2].Source);
        Assert.Equal(new DriveServer("10.0.0.5", 10810), nbd.Server);
        Assert.Equal("exp1", nbd.Export);
        var skipped = Assert.Single(info.Skipped);
        Assert.Contains("sda (cdrom", skipped);
    }

    [Fact]
    public void A_running_domain_is_recognised_by_its_id()
    {
        Assert.True(DomainXml.Parse(Domain("<disk type='file'><source file='/a.img'/><target dev='vda'/></disk>", " id='7'")).Running);
    }

    [Fact]
    public void Network_protocols_become_their_drive_sources()
    {
        var info = DomainXml.Parse(Domain(
            "<disk type='network'><source protocol='nbd' name='e'><host transport='unix' socket='/run/nbd.sock'/></source><target dev='vda'/></disk>" +
            "<disk type='network'><source protocol='https' name='/images/d.img' query='x=1'><host name='store.example' port='8443'/></source><target dev='vdb'/></disk>" +
            "<disk type='network'><source protocol='ssh' name='/srv/d.img'><host name='hv1' port='2222'/></source><auth username='root'><secret type='ceph' usage='x'/></auth><target dev='vdc'/></disk>" +
            "<disk type='network'><source protocol='iscsi' name='iqn.2026-01.test:disk1/2'><host name='san' port='3260'/></source><target dev='vdd'/></disk>" +
            "<disk type='network'><source protocol='rbd' name='pool1/img1'><host name='m1' port='6789'/><host name='m2'/></source><target dev='vde'/></disk>" +
            "<disk type='network'><source protocol='gluster' name='vol1/dir/d.img'><host name='g1'/></source><target dev='vdf'/></disk>"));
        var s = info.Disks.Select(d => d.Source).ToArray();
        Assert.Equal("/run/nbd.sock", Assert.IsType<NbdDriveSource>(s[0]).Socket);
        Assert.Equal("https://store.example:8443/images/d.img?x=1", Assert.IsType<CurlDriveSource>(s[1]).Url);
        var ssh = Assert.IsType<SshDriveSource>(s[2]);
        Assert.Equal("root", ssh.User);
        Assert.Equal("ssh://root@hv1:2222/srv/d.img", ssh.Display);
        var iscsi = Assert.IsType<IscsiDriveSource>(s[3]);
        Assert.Equal(("iqn.2026-01.test:disk1", 2), (iscsi.Target, iscsi.Lun));
        var rbd = Assert.IsType<RbdDriveSource>(s[4]);
        Assert.Equal(new[] { "m1", "m2" }, rbd.Monitors.Select(m => m.Host));
        Assert.Equal(("pool1", "img1"), (rbd.Pool, rbd.Image));
        var gluster = Assert.IsType<GlusterDriveSource>(s[5]);
        Assert.Equal(("vol1", "/dir/d.img"), (gluster.Volume, gluster.VolumePath));
    }

    [Fact]
    public void Relative_file_paths_are_taken_from_the_xml_files_directory()
    {
        var info = DomainXml.Parse(Domain("<disk type='file'><source file='disks/a.img'/><target dev='vda'/></disk>"), "/srv/vm");
        Assert.Equal("/srv/vm/disks/a.img", info.Disks[0].Source.Display);
    }

    [Fact]
    public void Volumes_need_libvirt_and_are_resolved_by_the_caller()
    {
        string xml = Domain("<disk type='volume'><source pool='default' volume='web01.qcow2'/><target dev='vda'/></disk>");
        var e = Assert.Throws<FormatException>(() => DomainXml.Parse(xml));
        Assert.Contains("-Domain", e.Message);
        Assert.Equal("/pool/web01.qcow2", DomainXml.Parse(xml, null, (p, v) => $"/pool/{v}").Disks[0].Source.Display);
    }

    [Theory]
    [InlineData("<disk type='network'><source protocol='sheepdog' name='x'><host name='h'/></source><target dev='vda'/></disk>", "'sheepdog' is not supported; these are: nbd")]
    [InlineData("<disk type='file' device='cdrom'><target dev='hdc'/></disk>", "has no disk to open (disk hdc (cdrom, type 'file'): no source")]
    [InlineData("<disk type='file'><source file='/a'/><target dev='vda'/><blockio logical_block_size='1000'/></disk>", "not 512 or 4096")]
    [InlineData("<disk type='network'><source protocol='rbd' name='justone'><host name='m'/></source><target dev='vda'/></disk>", "POOL/IMAGE")]
    [InlineData("<disk type='network'><source protocol='nbd'><host name='a'/><host name='b'/></source><target dev='vda'/></disk>", "exactly one <host>")]
    public void Bad_domains_say_what_is_wrong(string devices, string expected)
    {
        var e = Assert.Throws<FormatException>(() => DomainXml.Parse(Domain(devices)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Xml_that_is_not_a_domain_is_refused()
    {
        Assert.Contains("not libvirt domain XML", Assert.Throws<FormatException>(() => DomainXml.Parse("<network><name>n</name></network>")).Message);
        Assert.Contains("not XML", Assert.Throws<FormatException>(() => DomainXml.Parse("name: web01")).Message);
    }
}

public sealed class QemuImgNameTests
{
    [Fact]
    public void Network_sources_put_the_protocol_under_file_so_qemu_img_finds_the_image_format()
    {
        Assert.Equal("json:{\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"/run/n.sock\"},\"export\":\"e\"}}",
            DriveUri.Parse("nbd+unix:///e?socket=/run/n.sock").QemuImgName(null));
        Assert.Equal("/srv/a.img", DriveSource.File("/srv/a.img").QemuImgName(null));
    }
}

public sealed class SshHostKeyTests
{
    [Fact]
    public void A_fingerprint_as_ssh_keygen_prints_it_becomes_qemus_sha256_host_key_check()
    {
        // 32 bytes 0x00..0x1f: base64 without padding, as ssh-keygen -l writes it.
        string b64 = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()).TrimEnd('=');
        string hex = string.Concat(Enumerable.Range(0, 32).Select(i => i.ToString("x2")));
        Assert.Equal(hex, SshDriveSource.ParseFingerprint("SHA256:" + b64));
        Assert.Equal(hex, SshDriveSource.ParseFingerprint(hex.ToUpperInvariant()));
        var src = (SshDriveSource)DriveUri.Parse("ssh://root@h:2222/d.img", sshHostKey: "SHA256:" + b64);
        Assert.Equal("{\"driver\":\"ssh\",\"server\":{\"host\":\"h\",\"port\":\"2222\"},\"path\":\"/d.img\",\"user\":\"root\",\"host-key-check\":{\"mode\":\"hash\",\"type\":\"sha256\",\"hash\":\"" + hex + "\"}}",
            src.ProtocolNode(null).ToJsonString());
    }

    [Fact]
    public void Bad_fingerprints_and_the_option_on_other_schemes_are_refused()
    {
        Assert.Throws<FormatException>(() => SshDriveSource.ParseFingerprint("MD5:aa:bb"));
        Assert.Throws<FormatException>(() => SshDriveSource.ParseFingerprint("SHA256:c2hvcnQ"));
        Assert.Contains("-SshHostKey applies only to ssh://", Assert.Throws<ArgumentException>(() => DriveUri.Parse("nbd://h/e", sshHostKey: new string('a', 64))).Message);
    }

    [Fact]
    public void Ssh_errors_come_with_what_to_do()
    {
        var s = (SshDriveSource)DriveUri.Parse("ssh://root@h/d.img");
        Assert.Contains("-SshHostKey", s.Advice("no host key was found in known_hosts"));
        Assert.Contains("ssh-agent", s.Advice("failed to authenticate using publickey authentication"));
        Assert.Null(DriveUri.Parse("nbd://h/e").Advice("Connection refused"));
    }
}
