# Differential tests: the same sequence of calls through guestfish (the reference) and
# through GuestFs, on two qcow2 overlays of the cached base image, must give the same
# listings, stat fields, contents, and the same failures (message and errno).
# Launches: one guestfish appliance, one GuestFs appliance.
BeforeDiscovery {
    . $PSScriptRoot/Guestfish.ps1
    $script:noGuestfish = -not (Test-GuestfishAvailable)

    # Each step: Name; Fish (guestfish command and arguments); either Api + Arguments
    # (Invoke-GuestFsApi) or Ours (a script block using the cmdlets, for calls libguestfs
    # implements on the library side); Kind (how to compare); optionally Ignore (struct
    # fields), Sorted (compare lines as sets), Errno (both must fail with it).
    $t = [Text.Encoding]::UTF8
    $s = [Collections.Generic.List[hashtable]]::new()
    function Step([hashtable] $h) { $h.Index = $s.Count; if ($h.ContainsKey('Errno')) { $h.Fails = $true }; foreach ($k in 'Ignore', 'Sorted', 'Errno', 'Fails', 'Api', 'Arguments', 'Ours') { if (-not $h.ContainsKey($k)) { $h[$k] = $null } }; $s.Add($h) }
    $atime = @('st_atime_sec', 'st_atime_nsec')
    $times = @('st_atime_sec', 'st_atime_nsec', 'st_mtime_sec', 'st_mtime_nsec', 'st_ctime_sec', 'st_ctime_nsec')

    # --- devices, partitions, filesystems (before anything is mounted)
    Step @{ Name = 'list_devices'; Fish = @('list-devices'); Api = 'list_devices'; Arguments = @{}; Kind = 'lines' }
    Step @{ Name = 'list_partitions'; Fish = @('list-partitions'); Api = 'list_partitions'; Arguments = @{}; Kind = 'lines' }
    Step @{ Name = 'list_filesystems'; Fish = @('list-filesystems'); Api = 'list_filesystems'; Arguments = @{}; Kind = 'hash' }
    Step @{ Name = 'vfs_type'; Fish = @('vfs-type', '/dev/sda1'); Api = 'vfs_type'; Arguments = @{ mountable = '/dev/sda1' }; Kind = 'string' }
    Step @{ Name = 'vfs_label'; Fish = @('vfs-label', '/dev/sda1'); Api = 'vfs_label'; Arguments = @{ mountable = '/dev/sda1' }; Kind = 'string' }
    Step @{ Name = 'vfs_uuid'; Fish = @('vfs-uuid', '/dev/sda1'); Api = 'vfs_uuid'; Arguments = @{ mountable = '/dev/sda1' }; Kind = 'string' }
    Step @{ Name = 'blockdev_getsize64'; Fish = @('blockdev-getsize64', '/dev/sda'); Api = 'blockdev_getsize64'; Arguments = @{ device = '/dev/sda' }; Kind = 'int' }
    Step @{ Name = 'blockdev_getss'; Fish = @('blockdev-getss', '/dev/sda'); Api = 'blockdev_getss'; Arguments = @{ device = '/dev/sda' }; Kind = 'int' }
    Step @{ Name = 'part_list (partition structs)'; Fish = @('part-list', '/dev/sda'); Api = 'part_list'; Arguments = @{ device = '/dev/sda' }; Kind = 'structlist' }
    Step @{ Name = 'part_get_parttype'; Fish = @('part-get-parttype', '/dev/sda'); Api = 'part_get_parttype'; Arguments = @{ device = '/dev/sda' }; Kind = 'string' }
    # guestfish prints this one in hexadecimal (0x83).
    Step @{ Name = 'part_get_mbr_id'; Fish = @('part-get-mbr-id', '/dev/sda', '1'); Api = 'part_get_mbr_id'; Arguments = @{ device = '/dev/sda'; partnum = 1 }; Kind = 'hexint' }
    Step @{ Name = 'part_to_dev'; Fish = @('part-to-dev', '/dev/sda1'); Api = 'part_to_dev'; Arguments = @{ partition = '/dev/sda1' }; Kind = 'string' }
    Step @{ Name = 'part_to_partnum'; Fish = @('part-to-partnum', '/dev/sda1'); Api = 'part_to_partnum'; Arguments = @{ partition = '/dev/sda1' }; Kind = 'int' }
    Step @{ Name = 'blkid'; Fish = @('blkid', '/dev/sda1'); Api = 'blkid'; Arguments = @{ device = '/dev/sda1' }; Kind = 'hash' }
    Step @{ Name = 'tune2fs_l'; Fish = @('tune2fs-l', '/dev/sda1'); Api = 'tune2fs_l'; Arguments = @{ device = '/dev/sda1' }; Kind = 'hash' }
    Step @{ Name = 'vfs_type of a missing device fails alike'; Fish = @('vfs-type', '/dev/sdz9'); Api = 'vfs_type'; Arguments = @{ mountable = '/dev/sdz9' }; Kind = 'string'; Errno = 'ENOENT' }

    # --- mounting
    Step @{ Name = 'mount'; Fish = @('mount', '/dev/sda1', '/'); Api = 'mount'; Arguments = @{ mountable = '/dev/sda1'; mountpoint = '/' }; Kind = 'void' }
    Step @{ Name = 'mounts'; Fish = @('mounts'); Api = 'mounts'; Arguments = @{}; Kind = 'lines' }
    Step @{ Name = 'mountpoints'; Fish = @('mountpoints'); Api = 'mountpoints'; Arguments = @{}; Kind = 'hash' }
    Step @{ Name = 'statvfs (statvfs struct)'; Fish = @('statvfs', '/'); Api = 'statvfs'; Arguments = @{ path = '/' }; Kind = 'struct' }
    # df also lists the appliance's own filesystems, whose sizes depend on its memory: compare the guest's line.
    Step @{ Name = 'df'; Fish = @('df'); Api = 'df'; Arguments = @{}; Kind = 'df' }

    # --- reading
    Step @{ Name = 'ls (library side)'; Fish = @('ls', '/data'); Ours = { (Get-GuestChildItem /data -Force).Name }; Kind = 'lines'; Sorted = $true }
    Step @{ Name = 'll'; Fish = @('ll', '/data/small'); Api = 'll'; Arguments = @{ directory = '/data/small' }; Kind = 'string' }
    Step @{ Name = 'readdir (dirent structs)'; Fish = @('readdir', '/data/links'); Api = 'readdir'; Arguments = @{ dir = '/data/links' }; Kind = 'structlist'; Sorted = $true }
    Step @{ Name = 'lstatns of a link (statns struct)'; Fish = @('lstatns', '/data/links/rel'); Api = 'lstatns'; Arguments = @{ path = '/data/links/rel' }; Kind = 'struct'; Ignore = $atime }
    Step @{ Name = 'statns of a file (statns struct)'; Fish = @('statns', '/etc/hostname'); Api = 'statns'; Arguments = @{ path = '/etc/hostname' }; Kind = 'struct'; Ignore = $atime }
    Step @{ Name = 'readlink'; Fish = @('readlink', '/data/links/rel'); Api = 'readlink'; Arguments = @{ path = '/data/links/rel' }; Kind = 'string' }
    Step @{ Name = 'realpath'; Fish = @('realpath', '/data/linkdir'); Api = 'realpath'; Arguments = @{ path = '/data/linkdir' }; Kind = 'string' }
    Step @{ Name = 'cat (library side)'; Fish = @('cat', '/etc/app.conf'); Ours = { Get-GuestContent /etc/app.conf -Raw }; Kind = 'string' }
    Step @{ Name = 'read_file (library side)'; Fish = @('read-file', '/data/ünïcödé näme.txt'); Ours = { Get-GuestContent -LiteralPath '/data/ünïcödé näme.txt' -AsByteStream -Raw }; Kind = 'bytes' }
    Step @{ Name = 'head'; Fish = @('head', '/data/small/file01.txt'); Api = 'head'; Arguments = @{ path = '/data/small/file01.txt' }; Kind = 'lines' }
    Step @{ Name = 'head_n'; Fish = @('head-n', '2', '/data/small/file02.txt'); Api = 'head_n'; Arguments = @{ nrlines = 2; path = '/data/small/file02.txt' }; Kind = 'lines' }
    Step @{ Name = 'tail'; Fish = @('tail', '/data/small/file03.txt'); Api = 'tail'; Arguments = @{ path = '/data/small/file03.txt' }; Kind = 'lines' }
    Step @{ Name = 'wc_l'; Fish = @('wc-l', '/etc/app.conf'); Api = 'wc_l'; Arguments = @{ path = '/etc/app.conf' }; Kind = 'int' }
    Step @{ Name = 'checksum md5'; Fish = @('checksum', 'md5', '/data/big.bin'); Api = 'checksum'; Arguments = @{ csumtype = 'md5'; path = '/data/big.bin' }; Kind = 'string' }
    Step @{ Name = 'checksum sha256'; Fish = @('checksum', 'sha256', '/data/big.bin'); Api = 'checksum'; Arguments = @{ csumtype = 'sha256'; path = '/data/big.bin' }; Kind = 'string' }
    Step @{ Name = 'file'; Fish = @('file', '/data/binary.bin'); Api = 'file'; Arguments = @{ path = '/data/binary.bin' }; Kind = 'string' }
    Step @{ Name = 'hexdump'; Fish = @('hexdump', '/data/binary.bin'); Api = 'hexdump'; Arguments = @{ path = '/data/binary.bin' }; Kind = 'string' }
    Step @{ Name = 'strings'; Fish = @('strings', '/data/utf16.txt'); Api = 'strings'; Arguments = @{ path = '/data/utf16.txt' }; Kind = 'lines' }
    Step @{ Name = 'filesize'; Fish = @('filesize', '/data/big.bin'); Api = 'filesize'; Arguments = @{ file = '/data/big.bin' }; Kind = 'int' }
    Step @{ Name = 'exists (missing)'; Fish = @('exists', '/data/nope'); Api = 'exists'; Arguments = @{ path = '/data/nope' }; Kind = 'bool' }
    Step @{ Name = 'exists'; Fish = @('exists', '/etc/motd'); Api = 'exists'; Arguments = @{ path = '/etc/motd' }; Kind = 'bool' }
    Step @{ Name = 'is_dir (a link to a directory)'; Fish = @('is-dir', '/data/linkdir'); Api = 'is_dir'; Arguments = @{ path = '/data/linkdir' }; Kind = 'bool' }
    Step @{ Name = 'is_dir followsymlinks'; Fish = @('is-dir', '/data/linkdir', 'followsymlinks:true'); Api = 'is_dir'; Arguments = @{ path = '/data/linkdir'; followsymlinks = $true }; Kind = 'bool' }
    Step @{ Name = 'is_file'; Fish = @('is-file', '/data/big.bin'); Api = 'is_file'; Arguments = @{ path = '/data/big.bin' }; Kind = 'bool' }
    Step @{ Name = 'is_symlink'; Fish = @('is-symlink', '/data/linkdir'); Api = 'is_symlink'; Arguments = @{ path = '/data/linkdir' }; Kind = 'bool' }
    Step @{ Name = 'du'; Fish = @('du', '/data/small'); Api = 'du'; Arguments = @{ path = '/data/small' }; Kind = 'int' }
    # libguestfs 1.48.6's find returns the names with a leading '/' (its documentation says
    # without); GuestFs returns them relative, as documented: compared without the '/'.
    Step @{ Name = 'find (library side)'; Fish = @('find', '/data'); Ours = { Get-GuestChildItem /data -Recurse -Force | ForEach-Object { $_.FullName.Substring('/data/'.Length) } }; Kind = 'relpaths'; Sorted = $true }
    Step @{ Name = 'glob_expand'; Fish = @('glob-expand', '/data/small/file0*.txt'); Api = 'glob_expand'; Arguments = @{ pattern = '/data/small/file0*.txt' }; Kind = 'lines' }
    Step @{ Name = 'grep'; Fish = @('grep', 'two', '/data/small/file04.txt'); Api = 'grep'; Arguments = @{ regex = 'two'; path = '/data/small/file04.txt' }; Kind = 'lines' }
    Step @{ Name = 'case_sensitive_path'; Fish = @('case-sensitive-path', '/ETC/HOSTNAME'); Api = 'case_sensitive_path'; Arguments = @{ path = '/ETC/HOSTNAME' }; Kind = 'string' }
    Step @{ Name = 'utsname (utsname struct)'; Fish = @('utsname'); Api = 'utsname'; Arguments = @{}; Kind = 'struct' }

    # --- library-side calls by name (GuestFs rebuilds them from daemon calls, as libguestfs does)
    Step @{ Name = 'cat by name (library side)'; Fish = @('cat', '/etc/app.conf'); Api = 'cat'; Arguments = @{ path = '/etc/app.conf' }; Kind = 'string' }
    Step @{ Name = 'read_lines (library side)'; Fish = @('read-lines', '/etc/app.conf'); Api = 'read_lines'; Arguments = @{ path = '/etc/app.conf' }; Kind = 'lines' }
    Step @{ Name = 'ls by name (library side)'; Fish = @('ls', '/data'); Api = 'ls'; Arguments = @{ directory = '/data' }; Kind = 'lines' }
    Step @{ Name = 'find by name (library side)'; Fish = @('find', '/data/small'); Api = 'find'; Arguments = @{ directory = '/data/small' }; Kind = 'relpaths'; Sorted = $true }
    Step @{ Name = 'lstatnslist (library side)'; Fish = @('lstatnslist', '/data/links', 'rel abs'); Api = 'lstatnslist'; Arguments = @{ path = '/data/links'; names = @('rel', 'abs') }; Kind = 'structlist'; Ignore = $atime }
    Step @{ Name = 'readlinklist (library side)'; Fish = @('readlinklist', '/data/links', 'rel abs'); Api = 'readlinklist'; Arguments = @{ path = '/data/links'; names = @('rel', 'abs') }; Kind = 'lines' }
    Step @{ Name = 'stat, deprecated (library side)'; Fish = @('stat', '/etc/hostname'); Api = 'stat'; Arguments = @{ path = '/etc/hostname' }; Kind = 'struct'; Ignore = @('atime') }
    Step @{ Name = 'canonical_device_name (library side)'; Fish = @('canonical-device-name', '/dev/vda1'); Api = 'canonical_device_name'; Arguments = @{ device = '/dev/vda1' }; Kind = 'string' }
    Step @{ Name = 'device_index (library side)'; Fish = @('device-index', '/dev/sda'); Api = 'device_index'; Arguments = @{ device = '/dev/sda' }; Kind = 'int' }
    Step @{ Name = 'mountable_device (library side)'; Fish = @('mountable-device', '/dev/sda1'); Api = 'mountable_device'; Arguments = @{ mountable = '/dev/sda1' }; Kind = 'string' }
    Step @{ Name = 'feature_available (library side)'; Fish = @('feature-available', 'xfs'); Api = 'feature_available'; Arguments = @{ groups = @('xfs') }; Kind = 'bool' }
    Step @{ Name = 'version (library side)'; Fish = @('version'); Api = 'version'; Arguments = @{}; Kind = 'struct'; Ignore = @('extra') }

    # --- changing
    Step @{ Name = 'mkdir'; Fish = @('mkdir', '/new'); Api = 'mkdir'; Arguments = @{ path = '/new' }; Kind = 'void' }
    Step @{ Name = 'mkdir_p'; Fish = @('mkdir-p', '/new/a/b/c'); Api = 'mkdir_p'; Arguments = @{ path = '/new/a/b/c' }; Kind = 'void' }
    Step @{ Name = 'write (library side)'; Fish = @('write', '/new/f.txt', 'hello'); Ours = { Set-GuestContent /new/f.txt -Value 'hello' -NoNewline }; Kind = 'void' }
    Step @{ Name = 'write_append (library side)'; Fish = @('write-append', '/new/f.txt', ' world'); Ours = { Add-GuestContent /new/f.txt -Value ' world' -NoNewline }; Kind = 'void' }
    Step @{ Name = 'cat after write and append'; Fish = @('cat', '/new/f.txt'); Ours = { Get-GuestContent /new/f.txt -Raw }; Kind = 'string' }
    Step @{ Name = 'cp'; Fish = @('cp', '/new/f.txt', '/new/g.txt'); Api = 'cp'; Arguments = @{ src = '/new/f.txt'; dest = '/new/g.txt' }; Kind = 'void' }
    Step @{ Name = 'mv'; Fish = @('mv', '/new/g.txt', '/new/h.txt'); Api = 'mv'; Arguments = @{ src = '/new/g.txt'; dest = '/new/h.txt' }; Kind = 'void' }
    Step @{ Name = 'ln_s'; Fish = @('ln-s', 'f.txt', '/new/link'); Api = 'ln_s'; Arguments = @{ target = 'f.txt'; linkname = '/new/link' }; Kind = 'void' }
    Step @{ Name = 'touch'; Fish = @('touch', '/new/t'); Api = 'touch'; Arguments = @{ path = '/new/t' }; Kind = 'void' }
    Step @{ Name = 'truncate_size'; Fish = @('truncate-size', '/new/t', '1000'); Api = 'truncate_size'; Arguments = @{ path = '/new/t'; size = [long]1000 }; Kind = 'void' }
    Step @{ Name = 'chmod'; Fish = @('chmod', '0600', '/new/f.txt'); Api = 'chmod'; Arguments = @{ mode = 384; path = '/new/f.txt' }; Kind = 'void' }
    Step @{ Name = 'chown'; Fish = @('chown', '1000', '1001', '/new/f.txt'); Api = 'chown'; Arguments = @{ owner = 1000; group = 1001; path = '/new/f.txt' }; Kind = 'void' }
    Step @{ Name = 'setxattr'; Fish = @('setxattr', 'user.gfs', 'value', '5', '/new/f.txt'); Api = 'setxattr'; Arguments = @{ xattr = 'user.gfs'; val = 'value'; vallen = 5; path = '/new/f.txt' }; Kind = 'void' }
    Step @{ Name = 'lgetxattrs (xattr structs)'; Fish = @('lgetxattrs', '/new/f.txt'); Api = 'lgetxattrs'; Arguments = @{ path = '/new/f.txt' }; Kind = 'structlist' }
    Step @{ Name = 'statns after the changes'; Fish = @('statns', '/new/f.txt'); Api = 'statns'; Arguments = @{ path = '/new/f.txt' }; Kind = 'struct'; Ignore = $times }
    Step @{ Name = 'lstatns of the new link'; Fish = @('lstatns', '/new/link'); Api = 'lstatns'; Arguments = @{ path = '/new/link' }; Kind = 'struct'; Ignore = $times }
    Step @{ Name = 'statns after truncate'; Fish = @('statns', '/new/t'); Api = 'statns'; Arguments = @{ path = '/new/t' }; Kind = 'struct'; Ignore = $times }
    Step @{ Name = 'rm'; Fish = @('rm', '/new/h.txt'); Api = 'rm'; Arguments = @{ path = '/new/h.txt' }; Kind = 'void' }
    Step @{ Name = 'rmdir'; Fish = @('rmdir', '/new/a/b/c'); Api = 'rmdir'; Arguments = @{ path = '/new/a/b/c' }; Kind = 'void' }
    Step @{ Name = 'rm_rf'; Fish = @('rm-rf', '/new/a'); Api = 'rm_rf'; Arguments = @{ path = '/new/a' }; Kind = 'void' }
    Step @{ Name = 'ls after the changes'; Fish = @('ls', '/new'); Ours = { (Get-GuestChildItem /new -Force).Name }; Kind = 'lines'; Sorted = $true }
    Step @{ Name = 'aug_init'; Fish = @('aug-init', '/', '0'); Api = 'aug_init'; Arguments = @{ root = '/'; flags = 0 }; Kind = 'void' }
    Step @{ Name = 'aug_defnode (int_bool struct)'; Fish = @('aug-defnode', 'hn', '/files/etc/hostname/hostname', 'testhost'); Api = 'aug_defnode'; Arguments = @{ name = 'hn'; expr = '/files/etc/hostname/hostname'; val = 'testhost' }; Kind = 'struct' }
    Step @{ Name = 'aug_get'; Fish = @('aug-get', '/files/etc/hostname/hostname'); Api = 'aug_get'; Arguments = @{ augpath = '/files/etc/hostname/hostname' }; Kind = 'string' }
    Step @{ Name = 'aug_close'; Fish = @('aug-close'); Api = 'aug_close'; Arguments = @{}; Kind = 'void' }

    # --- failures: same message, same errno
    Step @{ Name = 'cat of a missing file: ENOENT'; Fish = @('cat', '/missing'); Ours = { Get-GuestContent /missing -Raw -ErrorAction Stop }; Kind = 'string'; Errno = 'ENOENT' }
    Step @{ Name = 'mkdir of an existing directory: EEXIST'; Fish = @('mkdir', '/etc'); Api = 'mkdir'; Arguments = @{ path = '/etc' }; Kind = 'void'; Errno = 'EEXIST' }
    Step @{ Name = 'rmdir of a non-empty directory: ENOTEMPTY'; Fish = @('rmdir', '/data'); Api = 'rmdir'; Arguments = @{ path = '/data' }; Kind = 'void'; Errno = 'ENOTEMPTY' }
    Step @{ Name = 'rm of a directory: EISDIR'; Fish = @('rm', '/data'); Api = 'rm'; Arguments = @{ path = '/data' }; Kind = 'void'; Errno = 'EISDIR' }
    Step @{ Name = 'readlink of a regular file: EINVAL'; Fish = @('readlink', '/etc/hostname'); Api = 'readlink'; Arguments = @{ path = '/etc/hostname' }; Kind = 'string'; Errno = 'EINVAL' }
    Step @{ Name = 'statns of a missing path: ENOENT'; Fish = @('statns', '/nope'); Api = 'statns'; Arguments = @{ path = '/nope' }; Kind = 'struct'; Errno = 'ENOENT' }
    Step @{ Name = 'mkdir under a missing parent: ENOENT'; Fish = @('mkdir', '/nope/x'); Api = 'mkdir'; Arguments = @{ path = '/nope/x' }; Kind = 'void'; Errno = 'ENOENT' }
    Step @{ Name = 'readdir of a file: ENOTDIR'; Fish = @('readdir', '/etc/hostname'); Api = 'readdir'; Arguments = @{ dir = '/etc/hostname' }; Kind = 'structlist'; Errno = 'ENOTDIR' }
    Step @{ Name = 'chmod of a missing file: ENOENT'; Fish = @('chmod', '0644', '/missing'); Api = 'chmod'; Arguments = @{ mode = 420; path = '/missing' }; Kind = 'void'; Errno = 'ENOENT' }
    Step @{ Name = 'checksum of a missing file: ENOENT'; Fish = @('checksum', 'md5', '/missing'); Api = 'checksum'; Arguments = @{ csumtype = 'md5'; path = '/missing' }; Kind = 'string'; Errno = 'ENOENT' }
    # mv runs the mv program in the appliance: the failure carries its message but no errno, in both.
    Step @{ Name = 'mv into a missing directory: no errno'; Fish = @('mv', '/new/f.txt', '/nope/f.txt'); Api = 'mv'; Arguments = @{ src = '/new/f.txt'; dest = '/nope/f.txt' }; Kind = 'void'; Errno = '' }
    Step @{ Name = 'umount_all'; Fish = @('umount-all'); Api = 'umount_all'; Arguments = @{}; Kind = 'void' }

    $script:steps = $s.ToArray()
    $script:distinctCalls = @($steps | ForEach-Object { $_.Fish[0] } | Sort-Object -Unique).Count
}

Describe "GuestFs and guestfish agree ($distinctCalls different calls)" -Tag 'Appliance', 'Differential' -Skip:$noGuestfish {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/Guestfish.ps1
        $fishImage = New-GuestFsTestOverlay -Directory $TestDrive -Name 'fish.qcow2'
        $oursImage = New-GuestFsTestOverlay -Directory $TestDrive -Name 'ours.qcow2'
        $script:fish = Start-Guestfish -Images $fishImage -Writable -Directory $TestDrive
        $script:disk = Open-GuestDisk -Path $oursImage -Writable

        # Run the whole sequence on both sides, in order (later steps depend on earlier ones).
        $script:results = foreach ($st in $steps) {
            $f = Invoke-Guestfish $fish $st.Fish[0] @($st.Fish | Select-Object -Skip 1)
            $ours = [pscustomobject]@{ Ok = $true; Value = $null; Exception = $null }
            try {
                $ours.Value = if ($st.Api) { Invoke-GuestFsApi -Name $st.Api -Arguments $st.Arguments -ErrorAction Stop -WarningAction SilentlyContinue } else { & $st.Ours }
            }
            catch {
                $ours.Ok = $false
                $e = $_.Exception
                while ($e -isnot [GuestFs.Engine.Protocol.GuestFsException] -and $e.InnerException) { $e = $e.InnerException }
                $ours.Exception = $e
            }
            [pscustomobject]@{ Fish = $f; Ours = $ours }
        }

        # guestfish's output -> comparable text, by result kind.
        function ConvertFrom-Fish([string] $Kind, [string] $Out, $Sorted) {
            switch ($Kind) {
                'void' { return $Out }
                'string' { return $(if ($Out.EndsWith("`n")) { $Out.Substring(0, $Out.Length - 1) } else { $Out }) }
                'bytes' { return $Out }
                'bool' { return $Out.Trim() }
                'int' { return $Out.Trim() }
                'hexint' { return [string][Convert]::ToInt32($Out.Trim(), 16) }
                'df' { return ((@($Out -split "`n") | Where-Object { $_ -match '^(Filesystem|/dev/sd)' }) -join "`n") }
                'relpaths' { return ((@($Out -split "`n" | Where-Object { $_ -ne '' } | ForEach-Object { $_.TrimStart('/') }) | Sort-Object -CaseSensitive { $_ }) -join "`n") }
                'lines' {
                    $l = @($Out -split "`n"); if ($l.Count -and $l[-1] -eq '') { $l = @($l | Select-Object -SkipLast 1) }
                    if ($Sorted) { $l = @($l | Sort-Object -CaseSensitive { $_ }) }
                    return ($l -join "`n")
                }
                'hash' {
                    return ((@($Out -split "`n" | Where-Object { $_ -ne '' } | ForEach-Object { $i = $_.IndexOf(': '); $_.Substring(0, $i) + '=' + $_.Substring($i + 2) }) | Sort-Object -CaseSensitive { $_ }) -join "`n")
                }
            }
        }
        function ConvertFrom-Ours([string] $Kind, $Value, $Sorted) {
            switch ($Kind) {
                'void' { return $(if ($null -eq $Value) { '' } else { "unexpected output: $Value" }) }
                'string' { return [string]$Value }
                'bytes' { return [Text.Encoding]::UTF8.GetString([byte[]]$Value) }
                'bool' { return ([string]$Value).ToLowerInvariant() }
                'int' { return [string]$Value }
                'hexint' { return [string]$Value }
                'df' { return ((@("$Value" -split "`n") | Where-Object { $_ -match '^(Filesystem|/dev/sd)' }) -join "`n") }
                'relpaths' { return ((@($Value | ForEach-Object { [string]$_ }) | Sort-Object -CaseSensitive { $_ }) -join "`n") }
                'lines' {
                    $l = @($Value | ForEach-Object { [string]$_ })
                    if ($Sorted) { $l = @($l | Sort-Object -CaseSensitive { $_ }) }
                    return ($l -join "`n")
                }
                'hash' { return ((@($Value.GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }) | Sort-Object -CaseSensitive { $_ }) -join "`n") }
            }
        }
    }
    AfterAll {
        Stop-Guestfish $fish
        Close-GuestDisk -All
    }

    It 'got an answer from guestfish for at least 40 different calls' {
        # Counted from what guestfish answered in this run, not from the list of steps:
        # a guestfish that died or refused every call leaves nothing to compare with.
        $answered = for ($i = 0; $i -lt $steps.Count; $i++) {
            $f = $results[$i].Fish
            if ($f -and ($f.Ok -or $steps[$i].Fails) -and "$($f.Error)" -notmatch 'unknown command|not connected|Connection refused') { $steps[$i].Fish[0] }
        }
        @($answered | Sort-Object -Unique).Count | Should -BeGreaterOrEqual 40
    }

    It '<Name>' -ForEach $steps {
        $r = $results[$Index]
        if ($Fails) {
            $r.Fish.Ok | Should -BeFalse -Because "guestfish should fail: $($r.Fish.Output)"
            $r.Ours.Ok | Should -BeFalse -Because 'GuestFs should fail like guestfish'
            # Same message after the call name ("download: /missing: …" for guestfish's cat).
            $fishMessage = $r.Fish.Error.Substring($r.Fish.Error.IndexOf(': ') + 2)
            $r.Ours.Exception | Should -BeOfType ([GuestFs.Engine.Protocol.GuestFsException])
            $r.Ours.Exception.DaemonMessage | Should -BeExactly $fishMessage
            # Same errno. guestfish --remote answers last-errno with 0 (the server's handle
            # forgets it between remote commands), so guestfish's errno is read from the
            # strerror text libguestfs appends to the daemon's message.
            # (A program's own stderr, as for mv, may end with such a text without an errno.)
            if ($Errno) { Get-ErrnoFromMessage $fishMessage | Should -Be $Errno -Because "guestfish said: $($r.Fish.Error)" }
            $r.Ours.Exception.ErrnoName | Should -Be $Errno
            return
        }
        $r.Fish.Ok | Should -BeTrue -Because "guestfish: $($r.Fish.Error)"
        $r.Ours.Ok | Should -BeTrue -Because "GuestFs: $($r.Ours.Exception.Message)"
        switch ($Kind) {
            'struct' {
                Compare-StructFields (ConvertFrom-GuestfishStruct $r.Fish.Output) $r.Ours.Value $Ignore | Should -BeNullOrEmpty
                @((ConvertFrom-GuestfishStruct $r.Fish.Output).Keys).Count | Should -BeGreaterThan 0
            }
            'structlist' {
                $fishList = ConvertFrom-GuestfishStructList $r.Fish.Output
                $ourList = @($r.Ours.Value)
                if ($Sorted) {
                    $fishList = @($fishList | Sort-Object { $_['name'] })
                    $ourList = @($ourList | Sort-Object Name)
                }
                $ourList.Count | Should -Be $fishList.Count
                for ($i = 0; $i -lt $fishList.Count; $i++) { Compare-StructFields $fishList[$i] $ourList[$i] $Ignore | Should -BeNullOrEmpty }
            }
            default {
                ConvertFrom-Ours $Kind $r.Ours.Value $Sorted | Should -BeExactly (ConvertFrom-Fish $Kind $r.Fish.Output $Sorted)
            }
        }
    }
}
