# Test images beyond the base image.
# Dot-source after TestSupport.ps1. Every image is built once through the appliance
# with GuestFs's own cmdlets (part_init/part_add, LVM, LUKS, mkfs, tar_in …) and
# cached under the test image cache with a versioned name; bump a version when
# what its builder produces changes.

$script:StorageImageVersion = 'v1'
$script:DebianImageVersion = 'v1'

# Passphrases of the two LUKS partitions of the storage image (test data, not secrets).
$script:LuksPassphraseA = 'gfs-Secret-A-7f3c9e'
$script:LuksPassphraseB = 'gfs-Secret-B-41d2a8'

# Runs $Build to create $Path under an exclusive lock (concurrent runs build it once).
function Invoke-CachedBuild([string] $Path, [scriptblock] $Build) {
    if (Test-Path $Path) { return }
    $lock = [IO.File]::Open("$Path.lock", 'OpenOrCreate', 'ReadWrite', 'None')
    try {
        if (Test-Path $Path) { return }
        $work = Join-Path ([IO.Path]::GetTempPath()) ("guestfs-img-" + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $work | Out-Null
        try { & $Build $work }
        finally { Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue }
    }
    finally { $lock.Dispose() }
}

function Invoke-Api([string] $Name, [hashtable] $Arguments = @{}, $Disk) {
    Invoke-GuestFsApi -Name $Name -Arguments $Arguments -Disk $Disk -ErrorAction Stop -WarningAction SilentlyContinue
}

# ------------------------------------------------------------------ storage image

# Two images, built in one writable session:
#   storage-<v>.img  1.5 GiB, GPT: ext2, ext3, ext4, xfs, btrfs (with a subvolume), vfat, ntfs,
#                    an LVM PV (VG gfsvg: lvdata ext4, lvsmall ext2), and two LUKS partitions
#                    holding ext4 (passphrases A and B above)
#   storage-mbr-<v>.img  256 MiB, MBR: a primary ext4 partition, an extended one with a logical ext3
# Every filesystem holds /hello.txt = "hello from <name>". A JSON manifest next to them
# records what was made and why something was left out (a filesystem the appliance lacks).
function Get-GuestFsStorageImages {
    $cache = Get-GuestFsTestCacheDirectory
    $gpt = Join-Path $cache "storage-$script:StorageImageVersion.img"
    $mbr = Join-Path $cache "storage-mbr-$script:StorageImageVersion.img"
    $manifest = Join-Path $cache "storage-$script:StorageImageVersion.json"
    Invoke-CachedBuild $manifest {
        param($work)
        $tmpGpt = "$work/gpt.img"; $tmpMbr = "$work/mbr.img"
        New-GuestDiskImage -Path $tmpGpt -Size 1536MB -PartitionStyle None | Out-Null
        New-GuestDiskImage -Path $tmpMbr -Size 256MB -PartitionStyle None | Out-Null
        $d = Open-GuestDisk -Path $tmpGpt, $tmpMbr -Writable -WarningAction SilentlyContinue
        $made = [ordered]@{}; $skipped = [ordered]@{}
        try {
            $mb = 2048  # sectors per MiB
            Invoke-Api part_init @{ device = '/dev/sda'; parttype = 'gpt' } $d
            $layout = @(
                @{ N = 1; Name = 'ext2'; MiB = 64 }, @{ N = 2; Name = 'ext3'; MiB = 64 }, @{ N = 3; Name = 'ext4'; MiB = 64 },
                @{ N = 4; Name = 'xfs'; MiB = 320 }, @{ N = 5; Name = 'btrfs'; MiB = 256 }, @{ N = 6; Name = 'vfat'; MiB = 64 },
                @{ N = 7; Name = 'ntfs'; MiB = 64 }, @{ N = 8; Name = 'lvm'; MiB = 200 }, @{ N = 9; Name = 'luksA'; MiB = 64 },
                @{ N = 10; Name = 'luksB'; MiB = 64 })
            $start = $mb
            foreach ($p in $layout) {
                $end = $start + $p.MiB * $mb - 1
                Invoke-Api part_add @{ device = '/dev/sda'; prlogex = 'p'; startsect = [long]$start; endsect = [long]$end } $d
                $start = $end + 1
            }
            $groups = @(Invoke-Api available_all_groups @{} $d)
            function Test-Fs([string] $fs) { [bool](Invoke-Api filesystem_available @{ filesystem = $fs } $d) }
            function Test-Group([string] $g) { ($groups -contains $g) -and ((Invoke-Api internal_feature_available @{ group = $g } $d) -eq 0) }
            function Write-Hello([string] $device, [string] $name) {
                Invoke-Api mount @{ mountable = $device; mountpoint = '/' } $d
                Invoke-Api internal_write @{ path = '/hello.txt'; content = [Text.Encoding]::UTF8.GetBytes("hello from $name`n") } $d
                Invoke-Api umount @{ pathordevice = '/' } $d
            }
            foreach ($p in $layout | Where-Object Name -in 'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'ntfs') {
                $dev = "/dev/sda$($p.N)"
                $why = switch ($p.Name) {
                    'xfs' { if (-not (Test-Group xfs)) { 'the appliance has no xfs support (feature group xfs)' } }
                    'btrfs' { if (-not (Test-Group btrfs) -or -not (Test-Fs btrfs)) { 'the appliance has no btrfs support' } }
                    'ntfs' { if (-not (Test-Group ntfs3g) -or -not (Test-Group ntfsprogs)) { 'the appliance has no ntfs-3g/ntfsprogs (feature groups ntfs3g, ntfsprogs)' } }
                    default { if (-not (Test-Fs $p.Name)) { "the appliance kernel has no $($p.Name)" } }
                }
                if ($why) { $skipped[$p.Name] = $why; continue }
                $label = if ($p.Name -eq 'vfat') { 'GFSVFAT' } else { "gfs-$($p.Name)" }
                Invoke-Api mkfs @{ fstype = $p.Name; device = $dev; label = $label } $d
                try { Write-Hello $dev $p.Name }
                catch { $skipped[$p.Name] = "formatted, but it cannot be mounted in this appliance: $($_.Exception.Message)"; continue }
                if ($p.Name -eq 'btrfs') {
                    Invoke-Api mount @{ mountable = $dev; mountpoint = '/' } $d
                    Invoke-Api btrfs_subvolume_create @{ dest = '/sub1' } $d
                    Invoke-Api internal_write @{ path = '/sub1/hello.txt'; content = [Text.Encoding]::UTF8.GetBytes("hello from btrfs sub1`n") } $d
                    Invoke-Api umount @{ pathordevice = '/' } $d
                }
                $made[$p.Name] = @{ Device = $dev; Label = $label }
            }
            # LVM on partition 8.
            Invoke-Api pvcreate @{ device = '/dev/sda8' } $d
            Invoke-Api vgcreate @{ volgroup = 'gfsvg'; physvols = @('/dev/sda8') } $d
            Invoke-Api lvcreate @{ logvol = 'lvdata'; volgroup = 'gfsvg'; mbytes = 64 } $d
            Invoke-Api lvcreate @{ logvol = 'lvsmall'; volgroup = 'gfsvg'; mbytes = 32 } $d
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/gfsvg/lvdata'; label = 'gfs-lvdata' } $d
            Invoke-Api mkfs @{ fstype = 'ext2'; device = '/dev/gfsvg/lvsmall'; label = 'gfs-lvsmall' } $d
            Write-Hello '/dev/gfsvg/lvdata' 'lvdata'
            Write-Hello '/dev/gfsvg/lvsmall' 'lvsmall'
            $made['lvm'] = @{ Device = '/dev/sda8'; VolumeGroup = 'gfsvg'; LogicalVolumes = @('lvdata', 'lvsmall') }
            # LUKS on partitions 9 and 10, ext4 inside.
            foreach ($l in @(@{ N = 9; Name = 'luksA'; Key = $script:LuksPassphraseA }, @{ N = 10; Name = 'luksB'; Key = $script:LuksPassphraseB })) {
                $dev = "/dev/sda$($l.N)"
                Invoke-Api luks_format @{ device = $dev; key = $l.Key; keyslot = 0 } $d
                Invoke-Api cryptsetup_open @{ device = $dev; key = $l.Key; mapname = "build$($l.N)" } $d
                Invoke-Api mkfs @{ fstype = 'ext4'; device = "/dev/mapper/build$($l.N)"; label = "gfs-$($l.Name)" } $d
                Write-Hello "/dev/mapper/build$($l.N)" $l.Name
                Invoke-Api cryptsetup_close @{ device = "/dev/mapper/build$($l.N)" } $d
                $made[$l.Name] = @{ Device = $dev }
            }
            # MBR disk: primary 1 (ext4), extended 2, logical 5 (ext3).
            Invoke-Api part_init @{ device = '/dev/sdb'; parttype = 'mbr' } $d
            Invoke-Api part_add @{ device = '/dev/sdb'; prlogex = 'p'; startsect = [long]2048; endsect = [long](2048 + 100 * $mb - 1) } $d
            Invoke-Api part_add @{ device = '/dev/sdb'; prlogex = 'e'; startsect = [long](2048 + 100 * $mb); endsect = [long](256 * $mb - 1) } $d
            Invoke-Api part_add @{ device = '/dev/sdb'; prlogex = 'l'; startsect = [long](2048 + 101 * $mb); endsect = [long](256 * $mb - 1) } $d
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/sdb1'; label = 'gfs-mbr1' } $d
            Invoke-Api mkfs @{ fstype = 'ext3'; device = '/dev/sdb5'; label = 'gfs-mbr5' } $d
            Write-Hello '/dev/sdb1' 'mbr1'
            Write-Hello '/dev/sdb5' 'mbr5'
        }
        finally { Close-GuestDisk -Disk $d }
        Move-Item $tmpGpt $gpt -Force
        Move-Item $tmpMbr $mbr -Force
        [ordered]@{ Made = $made; Skipped = $skipped } | ConvertTo-Json -Depth 5 | Set-Content "$work/m.json"
        Move-Item "$work/m.json" $manifest -Force
    }
    [pscustomobject]@{ Gpt = $gpt; Mbr = $mbr; Manifest = (Get-Content $manifest -Raw | ConvertFrom-Json -AsHashtable) }
}

# ------------------------------------------------------------------ Debian image

# Why the Debian image cannot be built here, or $null when it can.
function Get-GuestFsDebianImageProblem {
    $cache = Get-GuestFsTestCacheDirectory
    if (Test-Path (Join-Path $cache "debian12-$script:DebianImageVersion.img")) { return $null }
    if (-not (Get-Command debootstrap -ErrorAction SilentlyContinue)) { return 'debootstrap is not installed (build.ps1 -Task Bootstrap installs it as root)' }
    if ((& id -u) -ne '0') { return 'building the Debian test image with debootstrap needs root' }
    $null
}

# The Debian mirror apt on this host uses (deb822 .sources or sources.list), else deb.debian.org.
function Get-DebianMirror {
    foreach ($f in @(Get-ChildItem /etc/apt/sources.list.d -Filter *.sources -ErrorAction SilentlyContinue)) {
        $text = Get-Content $f.FullName -Raw
        foreach ($stanza in $text -split "(\r?\n){2,}") {
            if ($stanza -match '(?m)^URIs:\s*(\S+)' -and $stanza -match '(?m)^Suites:.*\bbookworm\b(?!-)') { return $Matches[1] }
            if ($stanza -match '(?m)^URIs:\s*(\S+/debian)/?\s*$') { return $Matches[1] }
        }
    }
    if (Test-Path /etc/apt/sources.list) {
        foreach ($line in Get-Content /etc/apt/sources.list) {
            if ($line -match '^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s') { return $Matches[1] }
        }
    }
    'http://deb.debian.org/debian'
}

# A minimal Debian 12 (debootstrap --variant=minbase bookworm) on two 2 GiB raw images,
# built in one session from one tree (packed on the host with tar, unpacked with tar_in):
#   debian12-<v>.img         MBR; /dev/sda1 ext4 "debboot" on /boot, /dev/sda2 ext4 "debroot" = /,
#                            hostname gfs-debian, fstab by LABEL
#   debian12-<v>-second.img  MBR; /dev/sda1 ext4 "deb2root" = / alone, hostname gfs-debian2
# Opened together they are two operating systems with distinct labels.
function Get-GuestFsDebianImage([switch] $Second) {
    $cache = Get-GuestFsTestCacheDirectory
    $img = Join-Path $cache "debian12-$script:DebianImageVersion.img"
    $img2 = Join-Path $cache "debian12-$script:DebianImageVersion-second.img"
    Invoke-CachedBuild $img {
        param($work)
        $problem = Get-GuestFsDebianImageProblem
        if ($problem) { throw $problem }
        $root = "$work/root"
        $mirror = Get-DebianMirror
        & debootstrap --variant=minbase bookworm $root $mirror *> "$work/debootstrap.log"
        if ($LASTEXITCODE -ne 0) { throw "debootstrap failed ($LASTEXITCODE):`n$((Get-Content "$work/debootstrap.log" -Tail 20) -join "`n")" }
        Set-Content -Path "$root/boot/README" -Value 'the boot filesystem'
        foreach ($v in @(
                @{ Tar = 'first.tar'; Host = 'gfs-debian'; Fstab = @('LABEL=debroot / ext4 errors=remount-ro 0 1', 'LABEL=debboot /boot ext4 defaults 0 2') },
                @{ Tar = 'second.tar'; Host = 'gfs-debian2'; Fstab = @('LABEL=deb2root / ext4 errors=remount-ro 0 1') })) {
            Set-Content -NoNewline -Path "$root/etc/hostname" -Value "$($v.Host)`n"
            Set-Content -Path "$root/etc/fstab" -Value (@('# /etc/fstab of a GuestFs test image') + $v.Fstab)
            & tar --numeric-owner -C $root -cf "$work/$($v.Tar)" .
            if ($LASTEXITCODE -ne 0) { throw "tar failed ($LASTEXITCODE)" }
        }
        Remove-Item -Recurse -Force $root
        $tmp = "$work/debian.img"; $tmp2 = "$work/debian-second.img"
        New-GuestDiskImage -Path $tmp -Size 2GB -PartitionStyle None | Out-Null
        New-GuestDiskImage -Path $tmp2 -Size 2GB -PartitionStyle None | Out-Null
        $d = Open-GuestDisk -Path $tmp, $tmp2 -Writable -WarningAction SilentlyContinue
        try {
            Invoke-Api part_init @{ device = '/dev/sda'; parttype = 'mbr' } $d
            Invoke-Api part_add @{ device = '/dev/sda'; prlogex = 'p'; startsect = [long]2048; endsect = [long](2048 + 128 * 2048 - 1) } $d
            Invoke-Api part_add @{ device = '/dev/sda'; prlogex = 'p'; startsect = [long](2048 + 128 * 2048); endsect = [long]-1 } $d
            Invoke-Api part_disk @{ device = '/dev/sdb'; parttype = 'mbr' } $d
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/sda1'; label = 'debboot' } $d
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/sda2'; label = 'debroot' } $d
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/sdb1'; label = 'deb2root' } $d
            Invoke-Api mount @{ mountable = '/dev/sda2'; mountpoint = '/' } $d
            Invoke-Api mkdir_p @{ path = '/boot' } $d
            Invoke-Api mount @{ mountable = '/dev/sda1'; mountpoint = '/boot' } $d
            Invoke-Api tar_in @{ tarfile = "$work/first.tar"; directory = '/' } $d
            Invoke-Api umount_all @{} $d
            Invoke-Api mount @{ mountable = '/dev/sdb1'; mountpoint = '/' } $d
            Invoke-Api tar_in @{ tarfile = "$work/second.tar"; directory = '/' } $d
        }
        finally { Close-GuestDisk -Disk $d }
        Move-Item $tmp2 $img2 -Force
        Move-Item $tmp $img -Force
    }
    if ($Second) { $img2 } else { $img }
}
