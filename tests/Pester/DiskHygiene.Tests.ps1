# Optimize-GuestDisk and Resize-GuestDisk against virt-sparsify and virt-resize, on copies
# of the same images in the same run. Checksums of every file come from one
# "virt-ls -lR --checksum" run per image; filesystem sizes from virt-df; partition tables
# from one guestfish run per pair. The reference tools' own results are judged by size,
# table and virt-df; the file checksums are read back from GuestFs's results (one virt-ls
# boot each) and compared with the source's. Everything the reference tools do to their own
# copies runs in a background lane (Start-ReferenceLane), started once the images exist,
# while the tests do GuestFs's side in the foreground: two appliances at a time, one per core.
#
# Images (built once by guestfish, cached, versioned name below):
#   hygiene-mbr-<v>.img  1 GiB raw, MBR: 1 ext4 (the "root", holding the mount points
#                        /xfs /ntfs /lvm), 2 xfs, 3 ntfs, 4 LVM PV (VG hygvg, LV lvdata ext4);
#                        300 MB of random bytes written and deleted (100 MB each in ext4, xfs
#                        and the LV) and 40 MB left in the VG's free space by an LV since removed.
#   hygiene-gpt-<v>.img  the same layout on GPT (VG hyggpt) plus 5 vfat (32 MiB), without the deleted data.
BeforeAll {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    $script:HygieneImageVersion = 'v2'
    $env:LIBGUESTFS_BACKEND = 'direct'
    if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }

    # The images are made by guestfish (the reference), not by the code under test, so a
    # regression in GuestFs cannot shape the images it is judged on. 1 GiB = 2097152
    # sectors; the last partition ends 1 MiB before the end (room for the backup GPT).
    function Add-HygieneLayout([Collections.Generic.List[string]] $Fish, [string] $Dev, [string] $PartType, [string] $Vg,
        [string] $Work, [switch] $Junk, [switch] $Vfat) {
        $mb = 2048
        $Fish.Add("part-init $Dev $PartType")
        $start = $mb
        foreach ($mib in 200, 320, 100) {
            $end = $start + $mib * $mb - 1
            $Fish.Add("part-add $Dev p $start $end")
            $start = $end + 1
        }
        $last = 2097152 - $mb - 1
        if ($Vfat) {
            $Fish.Add("part-add $Dev p $start $($last - 32 * $mb)")
            $Fish.Add("part-add $Dev p $($last - 32 * $mb + 1) $last")
            $Fish.Add("mkfs vfat ${Dev}5 label:HYGVFAT")
        }
        else { $Fish.Add("part-add $Dev p $start $last") }
        if ($PartType -eq 'mbr') { $Fish.Add("part-set-mbr-id $Dev 3 0x7") }
        $Fish.Add("mkfs ext4 ${Dev}1 label:hyg-root")
        $Fish.Add("mkfs xfs ${Dev}2 label:hyg-xfs")
        $Fish.Add("mkfs ntfs ${Dev}3 label:hyg-ntfs")
        $Fish.Add("pvcreate ${Dev}4")
        $Fish.Add("vgcreate $Vg ${Dev}4")
        $Fish.Add("lvcreate lvdata $Vg 150")
        $Fish.Add("mkfs ext4 /dev/$Vg/lvdata label:hyg-lv")
        $fss = [ordered]@{ "${Dev}1" = '/'; "${Dev}2" = '/xfs'; "${Dev}3" = '/ntfs'; "/dev/$Vg/lvdata" = '/lvm' }
        foreach ($fs in $fss.Keys) {
            $Fish.Add("mount $fs /")
            if ($fss[$fs] -eq '/') { foreach ($m in '/xfs', '/ntfs', '/lvm') { $Fish.Add("mkdir $m") } }
            $Fish.Add('mkdir-p /data/sub')
            foreach ($i in 1..5) { $Fish.Add(('write /data/sub/f{0}.txt "{1}"' -f $i, ("file $i on $($fss[$fs])\n" * $i))) }
            # 3 MB that differ per filesystem.
            $pattern = Join-Path $Work ("pattern-{0}.bin" -f ($fs -replace '\W', '_'))
            [IO.File]::WriteAllBytes($pattern, [Text.Encoding]::ASCII.GetBytes(("hygiene $fs " * (3MB / ("hygiene $fs ".Length) + 1)).Substring(0, 3MB)))
            $Fish.Add("upload $pattern /data/pattern.bin")
            # Junk written, synced and deleted in ext4, xfs and the LV: space a sparsifier can give back.
            if ($Junk -and $fs -ne "${Dev}3") { $Fish.Add("upload $Work/junk.bin /junk.bin"); $Fish.Add('sync'); $Fish.Add('rm /junk.bin') }
            $Fish.Add('umount /')
        }
        if ($Junk) {
            # Data left in the volume group's free space by an LV since removed.
            $Fish.Add("lvcreate lvjunk $Vg 40")
            $Fish.Add("upload $Work/junk-lv.bin /dev/$Vg/lvjunk")
            $Fish.Add("lvremove /dev/$Vg/lvjunk")
        }
    }

    function Get-HygieneImages {
        $cache = Get-GuestFsTestCacheDirectory
        $mbr = Join-Path $cache "hygiene-mbr-$HygieneImageVersion.img"
        $gpt = Join-Path $cache "hygiene-gpt-$HygieneImageVersion.img"
        Invoke-CachedBuild $gpt {
            param($work)
            & truncate -s 1G "$work/mbr.img" "$work/gpt.img"
            # Random bytes (incompressible, never zero): 3 x 100 MB written and deleted, 40 MB in the VG.
            & bash -c "head -c 100M /dev/urandom > '$work/junk.bin' && head -c 40M /dev/urandom > '$work/junk-lv.bin'"
            if ($LASTEXITCODE) { throw 'could not write the junk files' }
            $fish = [Collections.Generic.List[string]]::new()
            $fish.Add('run')
            Add-HygieneLayout $fish /dev/sda mbr hygvg $work -Junk
            Add-HygieneLayout $fish /dev/sdb gpt hyggpt $work -Vfat
            Set-Content "$work/build.gf" $fish
            Invoke-Reference guestfish @('--format=raw', '-a', "$work/mbr.img", '-a', "$work/gpt.img", '-f', "$work/build.gf") | Out-Null
            Move-Item "$work/mbr.img" $mbr -Force
            Move-Item "$work/gpt.img" $gpt -Force
        }
        [pscustomobject]@{ Mbr = $mbr; Gpt = $gpt }
    }

    # 256 MiB GPT, built by guestfish: 1 ext4 (64 MiB, 40 MB of random bytes written and
    # deleted), 2 swap (16 MiB, label and UUID below), 3 LUKS (passphrase below) holding an ext4.
    $script:CryptKey = 'hygiene-secret'
    $script:SwapUuid = '5a7c3e10-2b4d-4c6e-9f80-1a2b3c4d5e6f'
    function Get-CryptImage {
        $img = Join-Path (Get-GuestFsTestCacheDirectory) "hygiene-crypt-$HygieneImageVersion.img"
        Invoke-CachedBuild $img {
            param($work)
            & truncate -s 256M "$work/crypt.img"
            & bash -c "head -c 40M /dev/urandom > '$work/junk.bin'"
            $fish = @('run', 'part-init /dev/sda gpt', 'part-add /dev/sda p 2048 133119', 'part-add /dev/sda p 133120 165887',
                'part-add /dev/sda p 165888 522239', 'mkfs ext4 /dev/sda1 label:hyg-plain', "mkswap /dev/sda2 label:hygswap uuid:$SwapUuid",
                'luks-format /dev/sda3 0', $CryptKey, 'cryptsetup-open /dev/sda3 hygcrypt', $CryptKey, 'mkfs ext4 /dev/mapper/hygcrypt',
                'mount /dev/mapper/hygcrypt /', 'write /secret.txt "inside LUKS\n"', 'umount /', 'cryptsetup-close /dev/mapper/hygcrypt',
                'mount /dev/sda1 /', 'write /plain.txt "outside LUKS\n"', "upload $work/junk.bin /junk.bin", 'sync', 'rm /junk.bin', 'umount /')
            Set-Content "$work/crypt.gf" $fish
            # guestfish -f reads the script as its standard input, so with --keys-from-stdin each
            # key is the script line after the command that asks for it. Its appliance has been
            # seen to hang under TCG (qemu asleep, guestfish waiting on it for half an hour): after
            # 5 minutes the whole process tree is killed and the image built once more from scratch.
            foreach ($try in 1, 2) {
                $psi = [Diagnostics.ProcessStartInfo]::new('guestfish')
                foreach ($a in '--keys-from-stdin', '--format=raw', '-a', "$work/crypt.img", '-f', "$work/crypt.gf") { $psi.ArgumentList.Add($a) }
                $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
                $proc = [Diagnostics.Process]::Start($psi)
                $outTask = $proc.StandardOutput.ReadToEndAsync(); $errTask = $proc.StandardError.ReadToEndAsync()
                if ($proc.WaitForExit(300000)) {
                    $proc.WaitForExit()
                    if ($proc.ExitCode -eq 0) { break }
                    throw "guestfish could not build the LUKS image: $($errTask.Result)"
                }
                $proc.Kill($true); $proc.WaitForExit()
                if ($try -eq 2) { throw 'guestfish hung twice building the LUKS image (5 minutes each)' }
                Write-Host '  guestfish hung building the LUKS image; killed it, building once more'
                Remove-Item "$work/crypt.img" -Force
                & truncate -s 256M "$work/crypt.img"
            }
            Move-Item "$work/crypt.img" $img -Force
        }
        $img
    }

    function Copy-Sparse([string] $From, [string] $To) {
        & cp --sparse=always $From $To
        if ($LASTEXITCODE -ne 0) { throw "cp $From $To failed" }
    }

    # Runs a reference tool; its output, or a throw with its stderr. One known flake of
    # virt-resize under TCG on a busy host (its appliance's LVM scan misses a PV: "physical
    # volume not returned by pvs_full") gets one more try, said on the host.
    function Invoke-Reference([string] $Tool, [string[]] $Arguments) {
        $err = [IO.Path]::GetTempFileName()
        try {
            foreach ($try in 1, 2) {
                $out = & $Tool @Arguments 2>$err
                if ($LASTEXITCODE -eq 0) { return $out }
                $text = Get-Content $err -Raw
                if ($try -eq 1 -and $text -match 'physical volume not returned by pvs_full') {
                    Write-Host "  $Tool missed an LVM PV in its own appliance; running it once more"
                    continue
                }
                throw "$Tool $($Arguments -join ' ') failed ($LASTEXITCODE): $text"
            }
        }
        finally { Remove-Item $err -ErrorAction SilentlyContinue }
    }

    # Every file with its checksum (one virt-ls run): ext4 root with xfs, ntfs and the LV mounted below it.
    function Get-Checksums([string] $Image, [string] $Vg, [string] $Format = 'raw') {
        $lines = Invoke-Reference virt-ls @("--format=$Format", '-a', $Image, '-m', '/dev/sda1:/', '-m', '/dev/sda2:/xfs', '-m', '/dev/sda3:/ntfs',
            '-m', "/dev/$Vg/lvdata:/lvm", '-lR', '--checksum', '/')
        # "-lR --checksum" lines: type perms size checksum path; regular files only, as "checksum size path".
        @($lines | Where-Object { $_ -match '^-' } | ForEach-Object {
            $f = $_ -split '\s+'
            '{0} {1} {2}' -f $f[3], $f[2], $f[4]
        } | Sort-Object)
    }

    function Get-AllocatedBytes([string] $Image) {
        $json = & qemu-img info -U --output json $Image | ConvertFrom-Json
        [long]$json.'actual-size'
    }

    # 64 KiB pieces of an image's disk contents that do not compress (deflate saves under 5%):
    # what is left of the random bytes written and deleted when the images were made, since
    # every file the images hold is text. Reads the data ranges qemu-img map reports, from a
    # raw conversion of the image.
    function Get-IncompressibleChunks([string] $Image) {
        $raw = "$Image.check.raw"
        & qemu-img convert -U -O raw $Image $raw
        if ($LASTEXITCODE -ne 0) { throw "qemu-img convert $Image failed" }
        try {
            $map = (& qemu-img map -U --output json $Image) -join "`n" | ConvertFrom-Json
            $stream = [IO.File]::OpenRead($raw)
            $buf = [byte[]]::new(64KB); $count = 0
            try {
                foreach ($e in @($map | Where-Object data)) {
                    for ($o = [long]$e.start; $o -lt [long]$e.start + [long]$e.length; $o += 64KB) {
                        $stream.Position = $o
                        $n = $stream.Read($buf, 0, [int][math]::Min(64KB, [long]$e.start + [long]$e.length - $o))
                        $ms = [IO.MemoryStream]::new()
                        $z = [IO.Compression.DeflateStream]::new($ms, [IO.Compression.CompressionLevel]::Fastest, $true)
                        $z.Write($buf, 0, $n); $z.Dispose()
                        if ($ms.Length -gt $n * 0.95) { $count++ }
                    }
                }
            }
            finally { $stream.Dispose() }
            $count
        }
        finally { Remove-Item -Force $raw -ErrorAction SilentlyContinue }
    }

    $script:images = Get-HygieneImages
    $script:work = Join-Path '/var/tmp' ("guestfs-hygiene-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $work | Out-Null
    # The sources' listings come from virt-ls too; they only change with the images, so
    # they are cached beside them (two appliance boots saved per run).
    $sumsFile = Join-Path (Get-GuestFsTestCacheDirectory) "hygiene-sums-$HygieneImageVersion.json"
    Invoke-CachedBuild $sumsFile {
        param($w)
        @{ Mbr = @(Get-Checksums $images.Mbr hygvg); Gpt = @(Get-Checksums $images.Gpt hyggpt) } | ConvertTo-Json | Set-Content "$w/sums.json"
        Move-Item "$w/sums.json" $sumsFile -Force
    }
    $cached = Get-Content $sumsFile -Raw | ConvertFrom-Json
    $script:sourceSums = @{ Mbr = @($cached.Mbr); Gpt = @($cached.Gpt) }

    # The reference side of every comparison, in the order the tests need it.
    $script:crypt = Get-CryptImage
    function Q([string] $s) { "'" + ($s -replace "'", "'\''") + "'" }
    function Line([string[]] $Words) { ($Words | ForEach-Object { Q $_ }) -join ' ' }
    # virt-df's "filesystem 1K-blocks" pairs (one run per image: the copies share VG names).
    function ConvertFrom-Df([string[]] $Lines) { @($Lines | Select-Object -Skip 1 | ForEach-Object { ($_ -split ',')[1..2] -join ' ' }) }
    $script:ResizeCases = [ordered]@{
        mbr = @{ Name = 'MBR, expand xfs, ext4 grown by 100 MiB and ntfs to 150 MiB (-Resize)'; Key = 'Mbr'; Vg = 'hygvg'; Size = 1536MB
            Options = @{ Expand = '/dev/sda2'; Resize = @{ '/dev/sda1' = '+100M'; '/dev/sda3' = '150M' } }
            Reference = @('--expand', '/dev/sda2', '--resize', '/dev/sda1=+100M', '--resize', '/dev/sda3=150M'); Prepared = $false }
        gpt = @{ Name = 'GPT, expand the LVM PV and its LV'; Key = 'Gpt'; Vg = 'hyggpt'; Size = 1536MB
            Options = @{ Expand = '/dev/sda4'; LVExpand = @('/dev/hyggpt/lvdata') }
            Reference = @('--expand', '/dev/sda4', '--lv-expand', '/dev/hyggpt/lvdata'); Prepared = $false }
        # virt-resize --shrink only takes a partition whose content already fits, so its
        # source is a copy whose ext4 guestfish shrank to 100 MiB first; Resize-GuestDisk
        # gets that copy too, and also the untouched image, whose ext4 it shrinks itself.
        shrink = @{ Name = 'MBR, a 934 MiB disk: shrink ext4 (-Shrink)'; Key = 'Mbr'; Vg = 'hygvg'; Size = 934MB
            Options = @{ Shrink = '/dev/sda1' }; Reference = @('--shrink', '/dev/sda1'); Prepared = $true }
    }
    $jobs = [ordered]@{
        inplace = "cp --sparse=always $(Q $images.Mbr) $(Q "$work/inplace-a.img")`n" +
            (Line @('ref', 'virt-sparsify', '--in-place', '--format', 'raw', "$work/inplace-a.img")) + ' >/dev/null'
        copy = "cp --sparse=always $(Q $images.Mbr) $(Q "$work/copy-ref-src.img")`n" +
            (Line @('ref', 'virt-sparsify', '--format', 'raw', '--convert', 'qcow2', '--compress', "$work/copy-ref-src.img", "$work/copy-a.qcow2")) + " >/dev/null`n" +
            "rm -f $(Q "$work/copy-ref-src.img")"
        crypt = "cp --sparse=always $(Q $crypt) $(Q "$work/crypt-a.img")`n" +
            (Line @('ref', 'virt-sparsify', '--in-place', '--format', 'raw', '--key', "/dev/sda3:key:$CryptKey", "$work/crypt-a.img")) + ' >/dev/null'
        'shrink-source' = "cp --sparse=always $(Q $images.Mbr) $(Q "$work/resize-shrink-src.img.tmp")`n" +
            (Line @('ref', 'guestfish', '--format=raw', '-a', "$work/resize-shrink-src.img.tmp", 'run', ':', 'resize2fs-size', '/dev/sda1', '104857600')) + " >/dev/null`n" +
            "mv $(Q "$work/resize-shrink-src.img.tmp") $(Q "$work/resize-shrink-src.img")"
    }
    foreach ($k in $ResizeCases.Keys) {
        $case = $ResizeCases[$k]
        $src = if ($case.Prepared) { "$work/resize-$k-src.img" } else { $images.($case.Key) }
        $a = "$work/resize-$k-a.img"
        $jobs["resize-$k"] = "truncate -s $($case.Size) $(Q $a)`n" +
            (Line (@('ref', 'virt-resize', '--format', 'raw', '--output-format', 'raw') + $case.Reference + @($src, $a))) + " >/dev/null`n" +
            (Line @('ref', 'virt-df', '--csv', '--format=raw', '-a', $a))
    }
    $script:lane = Start-ReferenceLane $work $jobs
}

AfterAll {
    Stop-ReferenceLane $script:lane
    if ($script:work) { Remove-Item -Recurse -Force $script:work -ErrorAction SilentlyContinue }
}

Describe 'Optimize-GuestDisk: the same result as virt-sparsify' -Tag 'Appliance', 'DiskHygiene' {
    It 'the source listing has the files of every filesystem' {
        $sourceSums.Mbr.Count | Should -BeGreaterOrEqual 24
        ($sourceSums.Mbr -join "`n") | Should -Match '/ntfs/data/pattern\.bin'
        ($sourceSums.Mbr -join "`n") | Should -Match '/lvm/data/sub/f5\.txt'
    }

    It 'in place: allocated size at most 5% above virt-sparsify --in-place, far below before, every checksum unchanged' {
        $a = "$work/inplace-a.img"; $b = "$work/inplace-b.img"
        Copy-Sparse $images.Mbr $b
        $before = Get-AllocatedBytes $b
        $r = Optimize-GuestDisk -Path $b -ErrorAction Stop
        $sumsB = Get-Checksums $b hygvg
        Wait-ReferenceJob $lane inplace | Out-Null
        $sizeA = Get-AllocatedBytes $a; $sizeB = Get-AllocatedBytes $b
        Write-Host "  in place: before $before, virt-sparsify $sizeA, Optimize-GuestDisk $sizeB"
        # The host filesystem may still settle a few blocks of the fresh copy (delayed allocation) between the two readings.
        [math]::Abs($r.SizeBefore - $before) | Should -BeLessOrEqual 1MB
        $r.SizeAfter | Should -Be $sizeB
        $sizeB | Should -BeLessThan ($before * 0.7)
        # No worse than virt-sparsify; smaller is fine (the checksums below say nothing was lost).
        # virt-sparsify's result varies from run to run: once it left 1 MiB (5.7%) more than Optimize-GuestDisk.
        $sizeB | Should -BeLessOrEqual ($sizeA * 1.05)
        ($r.Actions | Where-Object Action -eq 'trimmed').Target | Should -Contain '/dev/sda2'
        ($r.Actions | Where-Object Action -eq 'free space discarded').Target | Should -Be 'hygvg'
        $sumsB | Should -Be $sourceSums.Mbr
    }

    It 'copying mode: qcow2 compressed no larger than virt-sparsify --convert qcow2 --compress (5% slack), every checksum unchanged, the source untouched' {
        $a = "$work/copy-a.qcow2"; $b = "$work/copy-b.qcow2"
        $src = "$work/copy-src.img"; Copy-Sparse $images.Mbr $src
        $srcHash = (Get-FileHash $src -Algorithm SHA256).Hash
        $r = Optimize-GuestDisk -Path $src -Destination $b -Format qcow2 -Compress -ErrorAction Stop
        (Get-FileHash $src -Algorithm SHA256).Hash | Should -Be $srcHash
        (& qemu-img info -U --output json $b | ConvertFrom-Json).format | Should -Be 'qcow2'
        $sumsB = Get-Checksums $b hygvg qcow2
        Wait-ReferenceJob $lane copy | Out-Null
        $sizeA = Get-AllocatedBytes $a; $sizeB = Get-AllocatedBytes $b
        Write-Host "  copying: source $(Get-AllocatedBytes $src), virt-sparsify $sizeA, Optimize-GuestDisk $sizeB"
        $r.SizeAfter | Should -Be $sizeB
        # As small as virt-sparsify's, or smaller (compressed clusters differ; every file is checked below).
        # virt-sparsify's size varies from run to run (1.6 or 2.7 MB here): its zero-filling of
        # ext4 leaves about 1 MB of the deleted bytes in one or in two of the filesystems.
        $sizeB | Should -BeLessOrEqual ($sizeA * 1.05)
        # Of the 340 MB of deleted random bytes, ours keeps at most one or two 64 KiB pieces
        # (0 in most runs, 1 in some), never more than virt-sparsify (16 to 33 pieces here).
        $leftA = Get-IncompressibleChunks $a; $leftB = Get-IncompressibleChunks $b
        Write-Host "  deleted data left (incompressible 64 KiB pieces): virt-sparsify $leftA, Optimize-GuestDisk $leftB"
        $leftB | Should -BeLessOrEqual ([math]::Min(2, $leftA))
        Test-Path "$b.guestfs-partial" | Should -BeFalse
        $sumsB | Should -Be $sourceSums.Mbr
    }

    It 'refuses an image another writer holds, and changes nothing' {
        $c = "$work/locked.img"; Copy-Sparse $images.Gpt $c
        $hash = (Get-FileHash $c -Algorithm SHA256).Hash
        $d = Open-GuestDisk -Path $c -Writable -Format raw
        try {
            { Optimize-GuestDisk -Path $c -ErrorAction Stop } | Should -Throw -ErrorId 'ImageInUse,GuestFs.PowerShell.Commands.OptimizeGuestDiskCommand'
            { Resize-GuestDisk -Path $c -Destination "$work/locked-out.img" -SizeBytes 2GB -Expand /dev/sda2 -ErrorAction Stop } |
                Should -Throw -ErrorId 'ImageInUse,GuestFs.PowerShell.Commands.ResizeGuestDiskCommand'
        }
        finally { Close-GuestDisk -Disk $d }
        Test-Path "$work/locked-out.img" | Should -BeFalse
        (Get-FileHash $c -Algorithm SHA256).Hash | Should -Be $hash
    }

    It 'refuses in-place work on a read-only source' {
        $c = "$work/readonly.img"; Copy-Sparse $images.Gpt $c
        & chmod 0444 $c
        try {
            # root ignores file modes: as root the file is made immutable instead.
            if ((& id -u) -ne '0') {
                { Optimize-GuestDisk -Path $c -ErrorAction Stop } | Should -Throw -ErrorId 'SourceReadOnly,GuestFs.PowerShell.Commands.OptimizeGuestDiskCommand'
            }
            else {
                & chattr +i $c
                try { { Optimize-GuestDisk -Path $c -ErrorAction Stop } | Should -Throw -ErrorId 'SourceReadOnly,GuestFs.PowerShell.Commands.OptimizeGuestDiskCommand' }
                finally { & chattr -i $c }
            }
        }
        finally { & chmod 0644 $c }
    }

    It 'encrypted volumes: refused without -Passphrase (nothing changed); with it, two copies at once (-ThrottleLimit 2) come out no larger than virt-sparsify --in-place (5% slack), swap keeping its UUID and label' {
        $r0 = "$work/crypt-refused.img"; $a = "$work/crypt-a.img"; $b1 = "$work/crypt-b1.img"; $b2 = "$work/crypt-b2.img"
        foreach ($c in $r0, $b1, $b2) { Copy-Sparse $crypt $c }
        $hash = (Get-FileHash $r0 -Algorithm SHA256).Hash
        Optimize-GuestDisk -Path $r0 -ErrorVariable refusal -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $refusal.FullyQualifiedErrorId | Should -Be 'EncryptedVolumeLocked,GuestFs.PowerShell.Commands.OptimizeGuestDiskCommand'
        "$refusal" | Should -Match '-Passphrase'
        "$refusal" | Should -Match '/dev/sda3'
        (Get-FileHash $r0 -Algorithm SHA256).Hash | Should -Be $hash

        $before = Get-AllocatedBytes $b1
        $key = ConvertTo-SecureString $CryptKey -AsPlainText -Force
        $results = @(Optimize-GuestDisk -Path $b1, $b2 -Passphrase $key -ThrottleLimit 2 -Verbose -ErrorAction Stop 4>&1)
        ($results | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and "$_" -match '2 image\(s\), 2 at a time' }) | Should -Not -BeNullOrEmpty
        $ours = @($results | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })
        $ours.Count | Should -Be 2
        @($ours.Path | Sort-Object) | Should -Be @($b1, $b2)
        Wait-ReferenceJob $lane crypt | Out-Null
        $sizeA = Get-AllocatedBytes $a
        foreach ($r in $ours) {
            Write-Host "  LUKS image: before $before, virt-sparsify $sizeA, Optimize-GuestDisk $($r.SizeAfter) ($($r.Path))"
            $r.SizeAfter | Should -Be (Get-AllocatedBytes $r.Path)
            $r.SizeAfter | Should -BeLessThan ($before * 0.7)
            $r.SizeAfter | Should -BeLessOrEqual ($sizeA * 1.05) -Because 'no worse than virt-sparsify (smaller is fine: the files are checked below)'
            ($r.Actions | Where-Object Action -eq 'swap cleared').Target | Should -Be '/dev/sda2'
            ($r.Actions | Where-Object Action -eq 'trimmed').Target | Should -Contain '/dev/sda1'
        }
        # Swap header, files inside and outside LUKS, read back by guestfish from one of ours.
        $fish = @("$CryptKey" | & guestfish --ro --keys-from-stdin --format=raw -a $b2 run : vfs-uuid /dev/sda2 : vfs-label /dev/sda2 : vfs-type /dev/sda2 `
                : cryptsetup-open /dev/sda3 c : mount /dev/mapper/c / : cat /secret.txt : umount / : mount /dev/sda1 / : cat /plain.txt 2>&1)
        $LASTEXITCODE | Should -Be 0
        @($fish | Where-Object { $_ }) | Should -Be @($SwapUuid, 'hygswap', 'swap', 'inside LUKS', 'outside LUKS')
    }

    It '-WhatIf changes nothing' {
        $c = "$work/whatif.img"; Copy-Sparse $images.Gpt $c
        $before = Get-AllocatedBytes $c
        Optimize-GuestDisk -Path $c -WhatIf
        Optimize-GuestDisk -Path $c -Destination "$work/whatif.qcow2" -Format qcow2 -WhatIf
        Get-AllocatedBytes $c | Should -Be $before
        Test-Path "$work/whatif.qcow2" | Should -BeFalse
    }
}

Describe 'Resize-GuestDisk: the same result as virt-resize' -Tag 'Appliance', 'DiskHygiene' {
    It '<Name>: same partition table, filesystem sizes and file checksums as virt-resize' -TestCases @(
        @{ Case = 'mbr'; Name = 'MBR, expand xfs, ext4 grown by 100 MiB and ntfs to 150 MiB (-Resize)' }
        @{ Case = 'gpt'; Name = 'GPT, expand the LVM PV and its LV' }
        @{ Case = 'shrink'; Name = 'MBR, a 934 MiB disk: shrink ext4 (-Shrink)' }
    ) {
        param($Case, $Name)
        $Key = $ResizeCases[$Case].Key; $Vg = $ResizeCases[$Case].Vg; $Size = $ResizeCases[$Case].Size
        $Options = $ResizeCases[$Case].Options; $Prepared = $ResizeCases[$Case].Prepared
        $ResizeCases[$Case].Name | Should -Be $Name
        $src = $images.$Key
        # virt-resize's copy, made by the lane: resize-<case>-a.img.
        $a = "$work/resize-$Case-a.img"; $b = "$work/resize-$Case-b.img"; $c = "$work/resize-$Case-c.img"
        $untouched = $src
        if ($Prepared) {
            $untouchedHash = (Get-FileHash $untouched -Algorithm SHA256).Hash
            # The lane's guestfish shrank the ext4 of this copy to 100 MiB.
            Wait-ReferenceJob $lane shrink-source | Out-Null
            $src = "$work/resize-$Case-src.img"
        }
        $out = Resize-GuestDisk -Path $src -Destination $b -SizeBytes $Size @Options -ErrorAction Stop
        $out.FullName | Should -Be $b
        (Get-Item $b).Length | Should -Be $Size
        Test-Path "$b.guestfs-partial" | Should -BeFalse
        $ours = @($b)
        if ($Prepared) {
            Resize-GuestDisk -Path $untouched -Destination $c -SizeBytes $Size @Options -ErrorAction Stop | Out-Null
            (Get-FileHash $untouched -Algorithm SHA256).Hash | Should -Be $untouchedHash -Because 'the ext4 is shrunk on a throw-away overlay, never in the source'
            $ours += $c
        }
        # Filesystem sizes (virt-df) and every file's checksum (virt-ls) of ours, one run each per image.
        $dfOurs = @(foreach ($o in $ours) { , @(ConvertFrom-Df @(Invoke-Reference virt-df @('--csv', '--format=raw', '-a', $o))) })
        $sumsOurs = @(foreach ($o in $ours) { , @(Get-Checksums $o $Vg) })
        $dfA = ConvertFrom-Df @(Wait-ReferenceJob $lane "resize-$Case")

        # Partition tables (part_list, types and the bootable flag), one guestfish run for all.
        $disks = @($a) + $ours + @($src)
        $devs = @('/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/sdd')[0..($disks.Count - 1)]
        $outs = $devs[0..($ours.Count)]
        $cmds = @('run')
        foreach ($d in $outs) { $cmds += @(':', 'part-list', $d, ':', 'echo', '====') }
        foreach ($d in $outs) { $cmds += @(':', 'part-get-parttype', $d) }
        foreach ($n in 1..4) {
            # One group of lines per question, each disk in turn: the first is virt-resize's.
            $questions = if ($Key -eq 'Mbr') { @('part-get-mbr-id') } else { @('part-get-gpt-type', 'part-get-gpt-guid') }
            foreach ($q in $questions) { foreach ($d in $outs) { $cmds += @(':', $q, $d, $n) } }
        }
        $cmds += @(':', 'echo', '====', ':', 'part-list', $devs[-1])
        $fishArgs = @('--ro', '--format=raw')
        foreach ($d in $disks) { $fishArgs += @('-a', $d) }
        $fish = @(Invoke-Reference guestfish ($fishArgs + $cmds))
        $split = ($fish -join "`n") -split "====`n?"
        $split[0].Trim() | Should -Not -BeNullOrEmpty
        foreach ($i in 1..$ours.Count) { $split[$i].Trim() | Should -Be $split[0].Trim() }
        $rest = @($split[$ours.Count + 1].Trim() -split "`n")
        $per = $ours.Count + 1
        $rest.Count | Should -BeGreaterOrEqual (5 * $per)
        for ($i = 0; $i -lt $rest.Count; $i += $per) { foreach ($j in 1..$ours.Count) { $rest[$i + $j] | Should -Be $rest[$i] } }
        # The changed partitions really changed (the source's table differs).
        $split[-1].Trim() | Should -Not -Be $split[0].Trim()

        # Filesystem sizes, against virt-resize's; every file's checksum, against the source's.
        $dfA.Count | Should -BeGreaterOrEqual 4
        foreach ($d in $dfOurs) { $d | Should -Be $dfA }
        foreach ($sums in $sumsOurs) { $sums | Should -Be $sourceSums.$Key }
    }

    It '-PlanOnly returns the plan and -WhatIf prints it; neither creates the destination' {
        $plan = Resize-GuestDisk -Path $images.Mbr -Destination "$work/plan.img" -SizeBytes 2GB -Expand /dev/sda3 -PlanOnly
        $plan.PartitionTableType | Should -Be 'msdos'
        $plan.Partitions.Count | Should -Be 4
        ($plan.Partitions | Where-Object Name -eq '/dev/sda3').Operation | Should -Be 'resize'
        ($plan.Partitions | Where-Object Name -eq '/dev/sda3').ExpandMethod | Should -Be 'ntfsresize'
        ($plan.Partitions | Where-Object Name -eq '/dev/sda1').NewSize | Should -Be ($plan.Partitions | Where-Object Name -eq '/dev/sda1').Size
        $plan.ToString() | Should -Match '/dev/sda3\s+ntfs\s+resize'
        Test-Path "$work/plan.img" | Should -BeFalse
        $info = Resize-GuestDisk -Path $images.Mbr -Destination "$work/plan.img" -SizeBytes 2GB -Expand /dev/sda3 -WhatIf 6>&1 | Out-String
        Test-Path "$work/plan.img" | Should -BeFalse
    }

    It 'refuses bad input before writing anything: <Case>' -TestCases @(
        @{ Case = 'destination smaller than the data'; Image = 'Gpt'; Size = 512MB; Options = @{ Expand = '/dev/sda2' }; Id = 'DestinationTooSmall' }
        @{ Case = 'an unknown partition'; Image = 'Gpt'; Size = 2GB; Options = @{ Expand = '/dev/sda9' }; Id = 'UnknownPartition' }
        @{ Case = 'a filesystem that cannot grow (vfat)'; Image = 'Gpt'; Size = 2GB; Options = @{ Expand = '/dev/sda5' }; Id = 'CannotExpandContent' }
        @{ Case = 'a filesystem that cannot shrink (xfs)'; Image = 'Mbr'; Size = 934MB; Options = @{ Shrink = '/dev/sda2' }; Id = 'CannotShrinkContent' }
        @{ Case = 'an ext4 whose data does not fit the shrunk partition'; Image = 'Mbr'; Size = 830MB; Options = @{ Shrink = '/dev/sda1' }; Id = 'ContentTooLarge' }
        @{ Case = 'a size that is not one'; Image = 'Mbr'; Size = 2GB; Options = @{ Expand = '/dev/sda2'; Resize = @{ '/dev/sda1' = 'huge' } }; Id = 'BadResizeSize' }
    ) {
        param($Case, $Image, $Size, $Options, $Id)
        $dest = "$work/bad-$Id.img"
        { Resize-GuestDisk -Path $images.$Image -Destination $dest -SizeBytes $Size @Options -ErrorAction Stop } |
            Should -Throw -ErrorId "$Id,GuestFs.PowerShell.Commands.ResizeGuestDiskCommand"
        Test-Path $dest | Should -BeFalse
        Test-Path "$dest.guestfs-partial" | Should -BeFalse
    }
}

Describe 'Ctrl+C during Optimize-GuestDisk and Resize-GuestDisk' -Tag 'Appliance', 'DiskHygiene' {
    BeforeAll {
        # Stops the command (what Ctrl+C does) once it has written a progress record of the given stage.
        function Stop-During([string] $Command, [hashtable] $Parameters, [string] $StagePattern) {
            $r = Stop-GuestFsCommandWhen $Command $Parameters { param($ps) [bool]@($ps.Streams.Progress.ReadAll() | Where-Object StatusDescription -like $StagePattern) } -DelayMilliseconds 500
            $r.EndedBeforeStop | Should -BeFalse -Because "the stop must come while $Command is at '$StagePattern'"
            $r.State
        }
        function Get-SparsifyTempDirs { @(Get-ChildItem ([IO.Path]::GetTempPath()) -Directory -Filter 'guestfs-sparsify-*' -ErrorAction SilentlyContinue | ForEach-Object FullName) }
    }

    It 'Resize-GuestDisk stopped while copying: source unchanged, no destination, no partial file, no qemu' {
        $src = "$work/stop-resize-src.img"; Copy-Sparse $images.Mbr $src
        $hash = (Get-FileHash $src -Algorithm SHA256).Hash
        $dest = "$work/stop-resize.img"
        # This process's new appliances (qemu's parent is this process): a warm appliance's command
        # line does not name the images, which are attached after the restore.
        $before = @(Get-QemuProcessIds)
        Stop-During Resize-GuestDisk @{ Path = $src; Destination = $dest; SizeBytes = 1536MB; Expand = '/dev/sda2' } 'copying*' | Should -Be 'Stopped'
        Test-Path $dest | Should -BeFalse
        Test-Path "$dest.guestfs-partial" | Should -BeFalse
        Start-Sleep -Seconds 1
        @(Get-QemuProcessIds | Where-Object { $_ -notin $before -and (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) | Should -BeNullOrEmpty
        (Get-FileHash $src -Algorithm SHA256).Hash | Should -Be $hash
    }

    It 'Optimize-GuestDisk -Destination stopped while trimming: source unchanged, no destination, no temporary overlay' {
        $src = "$work/stop-opt-src.img"; Copy-Sparse $images.Mbr $src
        $hash = (Get-FileHash $src -Algorithm SHA256).Hash
        $dest = "$work/stop-opt.qcow2"
        $tempBefore = Get-SparsifyTempDirs
        Stop-During Optimize-GuestDisk @{ Path = $src; Destination = $dest; Format = 'qcow2' } 'looking for filesystems*' | Should -Be 'Stopped'
        Test-Path $dest | Should -BeFalse
        Test-Path "$dest.guestfs-partial" | Should -BeFalse
        @(Get-SparsifyTempDirs | Where-Object { $_ -notin $tempBefore }) | Should -BeNullOrEmpty
        (Get-FileHash $src -Algorithm SHA256).Hash | Should -Be $hash
    }
}
