// INTERIM: a throwaway subset of the daemon calls, until the generator (tools/GuestFs.Generator) lands.
// Delete this file when src/GuestFs.Engine/Api/*.g.cs exists.
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Api;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Xdr;
namespace GuestFs.Engine.Api
{
public sealed record GuestStatns
    {
        public const int MinSize = 176;
        public long StDev { get; init; }
        public long StIno { get; init; }
        public long StMode { get; init; }
        public long StNlink { get; init; }
        public long StUid { get; init; }
        public long StGid { get; init; }
        public long StRdev { get; init; }
        public long StSize { get; init; }
        public long StBlksize { get; init; }
        public long StBlocks { get; init; }
        public long StAtimeSec { get; init; }
        public long StAtimeNsec { get; init; }
        public long StMtimeSec { get; init; }
        public long StMtimeNsec { get; init; }
        public long StCtimeSec { get; init; }
        public long StCtimeNsec { get; init; }
        public long StSpare1 { get; init; }
        public long StSpare2 { get; init; }
        public long StSpare3 { get; init; }
        public long StSpare4 { get; init; }
        public long StSpare5 { get; init; }
        public long StSpare6 { get; init; }
        public static GuestStatns Read(ref XdrReader r) => new() { StDev = r.ReadInt64(), StIno = r.ReadInt64(), StMode = r.ReadInt64(), StNlink = r.ReadInt64(), StUid = r.ReadInt64(), StGid = r.ReadInt64(), StRdev = r.ReadInt64(), StSize = r.ReadInt64(), StBlksize = r.ReadInt64(), StBlocks = r.ReadInt64(), StAtimeSec = r.ReadInt64(), StAtimeNsec = r.ReadInt64(), StMtimeSec = r.ReadInt64(), StMtimeNsec = r.ReadInt64(), StCtimeSec = r.ReadInt64(), StCtimeNsec = r.ReadInt64(), StSpare1 = r.ReadInt64(), StSpare2 = r.ReadInt64(), StSpare3 = r.ReadInt64(), StSpare4 = r.ReadInt64(), StSpare5 = r.ReadInt64(), StSpare6 = r.ReadInt64() };
    }
    
    public sealed record GuestStatvfs
    {
        public const int MinSize = 88;
        public long Bsize { get; init; }
        public long Frsize { get; init; }
        public long Blocks { get; init; }
        public long Bfree { get; init; }
        public long Bavail { get; init; }
        public long Files { get; init; }
        public long Ffree { get; init; }
        public long Favail { get; init; }
        public long Fsid { get; init; }
        public long Flag { get; init; }
        public long Namemax { get; init; }
        public static GuestStatvfs Read(ref XdrReader r) => new() { Bsize = r.ReadInt64(), Frsize = r.ReadInt64(), Blocks = r.ReadInt64(), Bfree = r.ReadInt64(), Bavail = r.ReadInt64(), Files = r.ReadInt64(), Ffree = r.ReadInt64(), Favail = r.ReadInt64(), Fsid = r.ReadInt64(), Flag = r.ReadInt64(), Namemax = r.ReadInt64() };
    }
}

namespace GuestFs.Engine.Session
{
public sealed partial class GuestSession
{
    public Task Ls0Async(string dir, Stream filenames, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(347, "ls0", 0UL, w => { w.WriteString(dir); }), XdrDecoders.Void, FileTransfer.Download(filenames), cancellationToken);

    public Task Find0Async(string directory, Stream files, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(196, "find0", 0UL, w => { w.WriteString(directory); }), XdrDecoders.Void, FileTransfer.Download(files), cancellationToken);

    public Task DownloadAsync(string remotefilename, Stream filename, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(67, "download", 0UL, w => { w.WriteString(remotefilename); }), XdrDecoders.Void, FileTransfer.Download(filename), cancellationToken);

    public Task UploadAsync(Stream filename, string remotefilename, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(66, "upload", 0UL, w => { w.WriteString(remotefilename); }), XdrDecoders.Void, FileTransfer.Upload(filename), cancellationToken);

    public Task InternalWriteAsync(string path, byte[] content, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(246, "internal_write", 0UL, w => { w.WriteString(path); w.WriteOpaque(content); }), XdrDecoders.Void, null, cancellationToken);

    public Task InternalWriteAppendAsync(string path, byte[] content, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(290, "internal_write_append", 0UL, w => { w.WriteString(path); w.WriteOpaque(content); }), XdrDecoders.Void, null, cancellationToken);

    public Task UploadOffsetAsync(Stream filename, string remotefilename, long offset, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(273, "upload_offset", 0UL, w => { w.WriteString(remotefilename); w.WriteInt64(offset); }), XdrDecoders.Void, FileTransfer.Upload(filename), cancellationToken);

    public Task<long> FilesizeAsync(string file, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(218, "filesize", 0UL, w => { w.WriteString(file); }), XdrDecoders.Int64, null, cancellationToken);

    public Task TarInAsync(Stream tarfile, string directory, string? compress = null, bool? xattrs = null, bool? selinux = null, bool? acls = null, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(69, "tar_in", (compress is null ? 0UL : 1UL) | (xattrs is null ? 0UL : 2UL) | (selinux is null ? 0UL : 4UL) | (acls is null ? 0UL : 8UL), w => { w.WriteString(directory); w.WriteString(compress ?? ""); w.WriteBool(xattrs ?? false); w.WriteBool(selinux ?? false); w.WriteBool(acls ?? false); }), XdrDecoders.Void, FileTransfer.Upload(tarfile), cancellationToken);

    public Task TarOutAsync(string directory, Stream tarfile, string? compress = null, bool? numericowner = null, IReadOnlyList<string>? excludes = null, bool? xattrs = null, bool? selinux = null, bool? acls = null, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(70, "tar_out", (compress is null ? 0UL : 1UL) | (numericowner is null ? 0UL : 2UL) | (excludes is null ? 0UL : 4UL) | (xattrs is null ? 0UL : 8UL) | (selinux is null ? 0UL : 16UL) | (acls is null ? 0UL : 32UL), w => { w.WriteString(directory); w.WriteString(compress ?? ""); w.WriteBool(numericowner ?? false); w.WriteStringArray(excludes); w.WriteBool(xattrs ?? false); w.WriteBool(selinux ?? false); w.WriteBool(acls ?? false); }), XdrDecoders.Void, FileTransfer.Download(tarfile), cancellationToken);

    public Task<GuestStatns[]> InternalLstatnslistAsync(string path, IReadOnlyList<string> names, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(423, "internal_lstatnslist", 0UL, w => { w.WriteString(path); w.WriteStringArray(names); }), (ref XdrReader r) => { int c = r.ReadCount(GuestStatns.MinSize); var a = new GuestStatns[c]; for (int i = 0; i < c; i++) a[i] = GuestStatns.Read(ref r); return a; }, null, cancellationToken);

    public Task<string[]> InternalReadlinklistAsync(string path, IReadOnlyList<string> names, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(206, "internal_readlinklist", 0UL, w => { w.WriteString(path); w.WriteStringArray(names); }), XdrDecoders.StringArray, null, cancellationToken);

    public Task<GuestStatns> LstatnsAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(422, "lstatns", 0UL, w => { w.WriteString(path); }), (ref XdrReader r) => GuestStatns.Read(ref r), null, cancellationToken);

    public Task<GuestStatns> StatnsAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(421, "statns", 0UL, w => { w.WriteString(path); }), (ref XdrReader r) => GuestStatns.Read(ref r), null, cancellationToken);

    public Task<IReadOnlyList<KeyValuePair<string, string>>> ListFilesystemsAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(476, "list_filesystems", 0UL, null), XdrDecoders.Pairs, null, cancellationToken);

    public Task MountAsync(string mountable, string mountpoint, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(1, "mount", 0UL, w => { w.WriteString(mountable); w.WriteString(mountpoint); }), XdrDecoders.Void, null, cancellationToken);

    public Task MountRoAsync(string mountable, string mountpoint, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(73, "mount_ro", 0UL, w => { w.WriteString(mountable); w.WriteString(mountpoint); }), XdrDecoders.Void, null, cancellationToken);

    public Task MountOptionsAsync(string options, string mountable, string mountpoint, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(74, "mount_options", 0UL, w => { w.WriteString(options); w.WriteString(mountable); w.WriteString(mountpoint); }), XdrDecoders.Void, null, cancellationToken);

    public Task UmountAsync(string pathordevice, bool? force = null, bool? lazyunmount = null, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(45, "umount", (force is null ? 0UL : 1UL) | (lazyunmount is null ? 0UL : 2UL), w => { w.WriteString(pathordevice); w.WriteBool(force ?? false); w.WriteBool(lazyunmount ?? false); }), XdrDecoders.Void, null, cancellationToken);

    public Task UmountAllAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(47, "umount_all", 0UL, null), XdrDecoders.Void, null, cancellationToken);

    public Task<IReadOnlyList<KeyValuePair<string, string>>> MountpointsAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(147, "mountpoints", 0UL, null), XdrDecoders.Pairs, null, cancellationToken);

    public Task<string[]> MountsAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(46, "mounts", 0UL, null), XdrDecoders.StringArray, null, cancellationToken);

    public Task<string> VfsTypeAsync(string mountable, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(198, "vfs_type", 0UL, w => { w.WriteString(mountable); }), XdrDecoders.String, null, cancellationToken);

    public Task<string> VfsLabelAsync(string mountable, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(253, "vfs_label", 0UL, w => { w.WriteString(mountable); }), XdrDecoders.String, null, cancellationToken);

    public Task<string> VfsUuidAsync(string mountable, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(254, "vfs_uuid", 0UL, w => { w.WriteString(mountable); }), XdrDecoders.String, null, cancellationToken);

    public Task<long> BlockdevGetsize64Async(string device, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(63, "blockdev_getsize64", 0UL, w => { w.WriteString(device); }), XdrDecoders.Int64, null, cancellationToken);

    public Task MkdirPAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(33, "mkdir_p", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task MkdirAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(32, "mkdir", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task RmRfAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(31, "rm_rf", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task RmAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(29, "rm", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task RmFAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(367, "rm_f", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task RmdirAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(30, "rmdir", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task MvAsync(string src, string dest, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(89, "mv", 0UL, w => { w.WriteString(src); w.WriteString(dest); }), XdrDecoders.Void, null, cancellationToken);

    public Task ChmodAsync(int mode, string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(34, "chmod", 0UL, w => { w.WriteInt32(mode); w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task ChownAsync(int owner, int group, string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(35, "chown", 0UL, w => { w.WriteInt32(owner); w.WriteInt32(group); w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task LchownAsync(int owner, int group, string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(203, "lchown", 0UL, w => { w.WriteInt32(owner); w.WriteInt32(group); w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task TouchAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(3, "touch", 0UL, w => { w.WriteString(path); }), XdrDecoders.Void, null, cancellationToken);

    public Task UtimensAsync(string path, long atsecs, long atnsecs, long mtsecs, long mtnsecs, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(201, "utimens", 0UL, w => { w.WriteString(path); w.WriteInt64(atsecs); w.WriteInt64(atnsecs); w.WriteInt64(mtsecs); w.WriteInt64(mtnsecs); }), XdrDecoders.Void, null, cancellationToken);

    public Task LnSAsync(string target, string linkname, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(166, "ln_s", 0UL, w => { w.WriteString(target); w.WriteString(linkname); }), XdrDecoders.Void, null, cancellationToken);

    public Task<GuestStatvfs> StatvfsAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(54, "statvfs", 0UL, w => { w.WriteString(path); }), (ref XdrReader r) => GuestStatvfs.Read(ref r), null, cancellationToken);

    public Task SyncAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(2, "sync", 0UL, null), XdrDecoders.Void, null, cancellationToken);

    public Task PartDiskAsync(string device, string parttype, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(210, "part_disk", 0UL, w => { w.WriteString(device); w.WriteString(parttype); }), XdrDecoders.Void, null, cancellationToken);

    public Task MkfsAsync(string fstype, string device, int? blocksize = null, string? features = null, int? inode = null, int? sectorsize = null, string? label = null, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(278, "mkfs", (blocksize is null ? 0UL : 1UL) | (features is null ? 0UL : 2UL) | (inode is null ? 0UL : 4UL) | (sectorsize is null ? 0UL : 8UL) | (label is null ? 0UL : 16UL), w => { w.WriteString(fstype); w.WriteString(device); w.WriteInt32(blocksize ?? 0); w.WriteString(features ?? ""); w.WriteInt32(inode ?? 0); w.WriteInt32(sectorsize ?? 0); w.WriteString(label ?? ""); }), XdrDecoders.Void, null, cancellationToken);

    public Task<bool> ExistsAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(36, "exists", 0UL, w => { w.WriteString(path); }), XdrDecoders.Bool, null, cancellationToken);

    public Task<bool> IsDirAsync(string path, bool? followsymlinks = null, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(38, "is_dir", (followsymlinks is null ? 0UL : 1UL), w => { w.WriteString(path); w.WriteBool(followsymlinks ?? false); }), XdrDecoders.Bool, null, cancellationToken);

    public Task<bool> IsFileAsync(string path, bool? followsymlinks = null, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(37, "is_file", (followsymlinks is null ? 0UL : 1UL), w => { w.WriteString(path); w.WriteBool(followsymlinks ?? false); }), XdrDecoders.Bool, null, cancellationToken);

    public Task<string> ReadlinkAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(168, "readlink", 0UL, w => { w.WriteString(path); }), XdrDecoders.String, null, cancellationToken);

    public Task CpAsync(string src, string dest, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(87, "cp", 0UL, w => { w.WriteString(src); w.WriteString(dest); }), XdrDecoders.Void, null, cancellationToken);

    public Task CpAAsync(string src, string dest, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(88, "cp_a", 0UL, w => { w.WriteString(src); w.WriteString(dest); }), XdrDecoders.Void, null, cancellationToken);

    public Task<bool> IsSymlinkAsync(string path, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(270, "is_symlink", 0UL, w => { w.WriteString(path); }), XdrDecoders.Bool, null, cancellationToken);

    public Task<string[]> ListDevicesAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(7, "list_devices", 0UL, null), XdrDecoders.StringArray, null, cancellationToken);

    public Task<string[]> ListPartitionsAsync(CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(8, "list_partitions", 0UL, null), XdrDecoders.StringArray, null, cancellationToken);

    public Task<byte[]> PreadAsync(string path, int count, long offset, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(207, "pread", 0UL, w => { w.WriteString(path); w.WriteInt32(count); w.WriteInt64(offset); }), XdrDecoders.Buffer, null, cancellationToken);

    public Task DownloadOffsetAsync(string remotefilename, Stream filename, long offset, long size, CancellationToken cancellationToken = default)
        => InvokeAsync(new RpcRequest(274, "download_offset", 0UL, w => { w.WriteString(remotefilename); w.WriteInt64(offset); w.WriteInt64(size); }), XdrDecoders.Void, FileTransfer.Download(filename), cancellationToken);
}
}
