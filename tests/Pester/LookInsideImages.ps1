# The test image of LookInside.Tests.ps1. Dot-source after TestSupport.ps1 and GuestImages.ps1
# (it uses Invoke-CachedBuild and Invoke-Api). Bump the version when the recipe changes.
#
#   lookinside-<v>.img  256 MiB raw, MBR:
#     p1 ext4  a minimal Linux root that inspection recognises (/etc/fstab, /etc/os-release, /bin),
#              /etc/favicon.png (a 32x32 PNG made here), /var/log/journal/<id>/system.journal
#              (made on the host by systemd-journal-remote from an export stream), /data/yara.txt
#     p2 ext4  keep.txt; gone1.txt and gone2.bin written, synced, then deleted; /var/log/messages
#     p3 ntfs  keep.txt; deleted.bin (6000 bytes) written, synced, then deleted
#     p4       8 MiB with no filesystem
# The journal's export stream is kept beside the image (lookinside-<v>.export) so the tests can
# compare with journalctl --file on the very same journal file (lookinside-<v>.journal).

$script:LookInsideImageVersion = 'v1'
$script:LookInsideMachineId = '5e1f0c2d9a8b47c6b3e2d1f0a9b8c7d6'
$script:LookInsideYaraMarker = 'GFS-YARA-MARKER-5f3a91'

# The bytes of deleted.bin on the NTFS partition (a recovery test compares them).
function Get-LookInsideDeletedBytes { [byte[]](0..5999 | ForEach-Object { ($_ * 7 + 3) % 251 }) }

# A 32x32 greyscale PNG, written by hand (signature, IHDR, one zlib IDAT, IEND).
function New-LookInsidePng {
    function Crc32([byte[]] $Data) {
        [uint32] $c = [uint32]::MaxValue
        foreach ($b in $Data) {
            $c = [uint32]($c -bxor $b)
            for ($k = 0; $k -lt 8; $k++) { $c = if ($c -band 1) { [uint32](3988292384 -bxor ($c -shr 1)) } else { [uint32]($c -shr 1) } }
        }
        [uint32]($c -bxor [uint32]::MaxValue)
    }
    function BE([uint32] $v) { $b = [BitConverter]::GetBytes($v); [Array]::Reverse($b); , $b }
    function Chunk([string] $Type, [byte[]] $Data) {
        $t = [Text.Encoding]::ASCII.GetBytes($Type)
        , ([byte[]]((BE $Data.Length) + $t + $Data + (BE (Crc32 ([byte[]]($t + $Data))))))
    }
    $raw = [IO.MemoryStream]::new()
    for ($y = 0; $y -lt 32; $y++) { $raw.WriteByte(0); for ($x = 0; $x -lt 32; $x++) { $raw.WriteByte([byte](($x * 8 + $y * 3) % 256)) } }
    $z = [IO.MemoryStream]::new()
    $zs = [IO.Compression.ZLibStream]::new($z, [IO.Compression.CompressionLevel]::Optimal)
    $zs.Write($raw.ToArray(), 0, $raw.Length); $zs.Dispose()
    $ihdr = [byte[]]((BE 32) + (BE 32) + [byte[]](8, 0, 0, 0, 0))
    [byte[]]([byte[]](0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A) + (Chunk 'IHDR' $ihdr) + (Chunk 'IDAT' $z.ToArray()) + (Chunk 'IEND' ([byte[]]@())))
}

# The journal export stream: 12 entries with fixed times, priorities 0..7, three units, one
# entry without PRIORITY (virt-log reads it as info) and one with a multi-'=' message.
function New-LookInsideJournalExport {
    $sb = [Text.StringBuilder]::new()
    $units = 'gfs-alpha.service', 'gfs-beta.service', 'cron.service'
    for ($i = 1; $i -le 12; $i++) {
        $t = 1700000000000000 + $i * 3600000000   # one entry an hour from 2023-11-14 22:13:20 UTC
        [void]$sb.Append("__REALTIME_TIMESTAMP=$t`n__MONOTONIC_TIMESTAMP=$($i * 1000000)`n")
        [void]$sb.Append("_BOOT_ID=0123456789abcdef0123456789abcdef`n_MACHINE_ID=$script:LookInsideMachineId`n_HOSTNAME=lookinside`n")
        [void]$sb.Append("_SYSTEMD_UNIT=$($units[$i % 3])`nSYSLOG_IDENTIFIER=gfs$($i % 3)`n_COMM=gfscomm`n_PID=$(1000 + $i)`n")
        if ($i -ne 7) { [void]$sb.Append("PRIORITY=$($i % 8)`n") }
        $msg = if ($i -eq 5) { 'key=value=more' } else { "entry number $i" }
        [void]$sb.Append("MESSAGE=$msg`n`n")
    }
    $sb.ToString()
}

function Get-LookInsideImage {
    $cache = Get-GuestFsTestCacheDirectory
    $img = Join-Path $cache "lookinside-$script:LookInsideImageVersion.img"
    $journal = Join-Path $cache "lookinside-$script:LookInsideImageVersion.journal"
    Invoke-CachedBuild $img {
        param($work)
        $export = New-LookInsideJournalExport
        $j = "$work/system.journal"
        $export | & /lib/systemd/systemd-journal-remote -o $j - 2>$null
        if ($LASTEXITCODE -ne 0 -or -not (Test-Path $j)) { throw 'systemd-journal-remote did not write the test journal (package systemd-journal-remote)' }
        [IO.File]::WriteAllBytes("$work/favicon.png", (New-LookInsidePng))
        [IO.File]::WriteAllBytes("$work/deleted.bin", (Get-LookInsideDeletedBytes))
        $tmp = "$work/lookinside.img"
        New-GuestDiskImage -Path $tmp -Size 256MB -PartitionStyle None | Out-Null
        $d = Open-GuestDisk -Path $tmp -Writable -Format raw -WarningAction SilentlyContinue
        try {
            $mb = 2048
            Invoke-Api part_init @{ device = '/dev/sda'; parttype = 'mbr' } $d
            $start = $mb
            foreach ($size in 120, 40, 64, 8) {
                $end = $start + $size * $mb - 1
                Invoke-Api part_add @{ device = '/dev/sda'; prlogex = 'p'; startsect = [long]$start; endsect = [long]$end } $d
                $start = $end + 1
            }
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/sda1' } $d
            Invoke-Api mkfs @{ fstype = 'ext4'; device = '/dev/sda2' } $d
            Invoke-Api mkfs @{ fstype = 'ntfs'; device = '/dev/sda3' } $d
            function Put([string] $Path, [string] $Text) { Invoke-Api internal_write @{ path = $Path; content = [Text.Encoding]::UTF8.GetBytes($Text) } $d }

            Invoke-Api mount @{ mountable = '/dev/sda1'; mountpoint = '/' } $d
            foreach ($dir in '/etc', '/bin', '/data', "/var/log/journal/$script:LookInsideMachineId") { Invoke-Api mkdir_p @{ path = $dir } $d }
            Put '/etc/fstab' "/dev/sda1 / ext4 defaults 0 1`n"
            Put '/etc/hosts' "127.0.0.1 localhost`n"
            Put '/etc/hostname' "lookinside`n"
            Put '/etc/os-release' "PRETTY_NAME=`"Debian GNU/Linux 12 (bookworm)`"`nNAME=`"Debian GNU/Linux`"`nVERSION_ID=`"12`"`nID=debian`n"
            Put '/data/yara.txt' "some text before $script:LookInsideYaraMarker and after`n"
            Put '/data/clean.txt' "nothing to see`n"
            Invoke-Api upload @{ filename = "$work/favicon.png"; remotefilename = '/etc/favicon.png' } $d
            Invoke-Api upload @{ filename = $j; remotefilename = "/var/log/journal/$script:LookInsideMachineId/system.journal" } $d
            Invoke-Api umount @{ pathordevice = '/' } $d

            Invoke-Api mount @{ mountable = '/dev/sda2'; mountpoint = '/' } $d
            Put '/keep.txt' "kept`n"
            Put '/gone1.txt' "this file will be deleted`n"
            Invoke-Api internal_write @{ path = '/gone2.bin'; content = [byte[]](0..19999 | ForEach-Object { $_ % 256 }) } $d
            Invoke-Api mkdir_p @{ path = '/var/log' } $d
            Put '/var/log/messages' "Nov 14 22:13:20 lookinside kernel: first line`nNov 14 22:13:21 lookinside cron[12]: second line`n"
            Invoke-Api sync @{} $d
            Invoke-Api rm @{ path = '/gone1.txt' } $d
            Invoke-Api rm @{ path = '/gone2.bin' } $d
            Invoke-Api umount @{ pathordevice = '/' } $d

            Invoke-Api mount @{ mountable = '/dev/sda3'; mountpoint = '/' } $d
            Put '/keep.txt' "kept on ntfs`n"
            Invoke-Api upload @{ filename = "$work/deleted.bin"; remotefilename = '/deleted.bin' } $d
            Invoke-Api umount @{ pathordevice = '/' } $d
            Invoke-Api mount @{ mountable = '/dev/sda3'; mountpoint = '/' } $d
            Invoke-Api rm @{ path = '/deleted.bin' } $d
            Invoke-Api umount @{ pathordevice = '/' } $d
            Invoke-Api sync @{} $d
        }
        finally { Close-GuestDisk -Disk $d }
        Copy-Item $j "$journal.tmp"; Move-Item -Force "$journal.tmp" $journal
        Move-Item $tmp $img
    }
    [pscustomobject]@{ Image = $img; Journal = $journal; MachineId = $script:LookInsideMachineId; YaraMarker = $script:LookInsideYaraMarker }
}
