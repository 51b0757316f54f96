# Storage beyond one plain partition, on images the suite builds once and caches
# (GuestImages.ps1): a GPT disk with ext2/3/4, xfs, btrfs (with a subvolume), vfat, ntfs,
# an LVM volume group and two LUKS partitions, and an MBR disk with a logical partition.
# Then every struct the daemon returns that these images can produce is decoded from a real
# reply and compared field by field with what guestfish prints for the same call.
# Launches: one GuestFs session (both disks), one for Open-GuestDisk -Passphrase, one guestfish.
BeforeDiscovery {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    . $PSScriptRoot/Guestfish.ps1
    $script:noGuestfish = -not (Test-GuestfishAvailable)
    # Which filesystems the builder could make in this appliance (the rest are named, with why, in the manifest).
    $storage = Get-GuestFsStorageImages
    $script:fsCases = @($storage.Manifest.Made.Keys | Where-Object { $_ -notin 'lvm', 'luksA', 'luksB' } |
        ForEach-Object { @{ Name = $_; Device = $storage.Manifest.Made[$_].Device; Label = $storage.Manifest.Made[$_].Label } })
    $script:skippedFs = $storage.Manifest.Skipped
    $script:madeNames = @($storage.Manifest.Made.Keys)
}

Describe 'Storage: partition tables, filesystems, LVM and LUKS' -Tag 'Appliance', 'Storage' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/GuestImages.ps1
        $script:storage = Get-GuestFsStorageImages
        $script:disk = Open-GuestDisk -Path $storage.Gpt, $storage.Mbr -Format raw
        $script:pwA = ConvertTo-SecureString $LuksPassphraseA -AsPlainText -Force
        $script:pwB = ConvertTo-SecureString $LuksPassphraseB -AsPlainText -Force
        # The daemon's list_filesystems probes every device (about 20 s under TCG on this disk): once.
        $script:allFs = Get-GuestFileSystem -All
        function Read-Hello([string] $Device) {
            Mount-GuestFs -Device $Device -MountPoint / -ReadOnly
            try { Get-GuestContent /hello.txt -Raw } finally { Dismount-GuestFs -MountPoint / }
        }
    }
    AfterAll { Close-GuestDisk -All }

    It 'the builder made every filesystem the issue names (the appliance supports them all)' {
        # Bootstrap installs every package these need (libguestfs-xfs among them), and the image
        # cache is keyed to the appliance's package lists: a missing one is a failure, with its reason.
        $why = @($skippedFs.Keys | ForEach-Object { "$_ ($($skippedFs[$_]))" }) -join '; '
        @($skippedFs.Keys) | Should -BeNullOrEmpty -Because "every filesystem must be in the image; not built: $why"
        @($fsCases.Name) | Sort-Object | Should -Be @('btrfs', 'ext2', 'ext3', 'ext4', 'ntfs', 'vfat', 'xfs')
    }

    Context 'partition tables' {
        It 'reads a GPT disk with ten partitions' {
            Invoke-GuestFsApi part_get_parttype /dev/sda | Should -Be 'gpt'
            $parts = Invoke-GuestFsApi part_list /dev/sda
            $parts.Count | Should -Be 10
            $parts.PartNum | Should -Be (1..10)
            ($parts | Select-Object -First 1).PartStart | Should -Be (2048 * 512)
            Invoke-GuestFsApi part_get_gpt_type /dev/sda 1 | Should -Match '^[0-9A-F-]{36}$'
        }
        It 'reads an MBR disk with a primary, an extended and a logical partition' {
            Invoke-GuestFsApi part_get_parttype /dev/sdb | Should -Be 'msdos'
            (Invoke-GuestFsApi part_list /dev/sdb).PartNum | Should -Be @(1, 2, 5)
            Invoke-GuestFsApi part_get_mbr_part_type /dev/sdb 2 | Should -Be 'extended'
            Invoke-GuestFsApi part_get_mbr_part_type /dev/sdb 5 | Should -Be 'logical'
            Invoke-GuestFsApi list_partitions | Should -Contain '/dev/sdb5'
            Read-Hello /dev/sdb5 | Should -Be "hello from mbr5`n"
            Read-Hello /dev/sdb1 | Should -Be "hello from mbr1`n"
        }
    }

    Context 'filesystems' {
        It '<Name>: listed with its type and label, mounted, read' -ForEach $fsCases {
            $fs = $allFs | Where-Object Device -eq $Device
            $fs.Type | Should -Be $Name
            $fs.Label | Should -Be $Label
            Read-Hello $Device | Should -Be "hello from $Name`n"
        }
        It 'btrfs: the subvolume is a mountable of its own' -Skip:('btrfs' -notin $fsCases.Name) {
            $sub = $allFs | Where-Object Device -like 'btrfsvol:*sub1'
            $sub | Should -Not -BeNullOrEmpty
            Read-Hello $sub.Device | Should -Be "hello from btrfs sub1`n"
            Invoke-GuestFsApi mountable_subvolume $sub.Device | Should -Be 'sub1'
        }
    }

    Context 'LVM' {
        It 'lists the physical volume, the volume group and its logical volumes' {
            Invoke-GuestFsApi pvs | Should -Be '/dev/sda8'
            Invoke-GuestFsApi vgs | Should -Be 'gfsvg'
            Invoke-GuestFsApi lvs | Sort-Object | Should -Be @('/dev/gfsvg/lvdata', '/dev/gfsvg/lvsmall')
            $lv = Invoke-GuestFsApi lvs_full | Where-Object LvName -eq 'lvdata'
            $lv.LvSize | Should -Be 64MB
            Invoke-GuestFsApi canonical_device_name /dev/mapper/gfsvg-lvdata | Should -Be '/dev/gfsvg/lvdata'
        }
        It 'shows the logical volumes as filesystems and mounts them' {
            $fs = $allFs | Where-Object Device -like '/dev/gfsvg/*' | Sort-Object Device
            $fs.Device | Should -Be @('/dev/gfsvg/lvdata', '/dev/gfsvg/lvsmall')
            $fs.Type | Should -Be @('ext4', 'ext2')
            Read-Hello /dev/gfsvg/lvdata | Should -Be "hello from lvdata`n"
            Read-Hello /dev/gfsvg/lvsmall | Should -Be "hello from lvsmall`n"
        }
    }

    Context 'LUKS' {
        It 'Get-GuestFileSystem -All shows the encrypted partitions (the daemon''s list_filesystems leaves them out)' {
            ($allFs | Where-Object Device -in '/dev/sda9', '/dev/sda10').Type | Should -Be @('crypto_LUKS', 'crypto_LUKS')
        }
        It 'a wrong passphrase is an UnlockFailed error that never shows the passphrase' {
            $out = Mount-GuestFs -Device /dev/sda10 -MountPoint / -Passphrase $pwA -ErrorVariable err -ErrorAction SilentlyContinue -Verbose *>&1 | Out-String
            $err[0].FullyQualifiedErrorId | Should -Match '^UnlockFailed'
            $text = $out + ($err | Out-String) + $err[0].Exception.ToString()
            $text | Should -Not -Match ([regex]::Escape($LuksPassphraseA))
            Get-GuestMount | Should -BeNullOrEmpty
        }
        It 'Mount-GuestFs -Passphrase opens the device and mounts what is inside, without the passphrase in any stream' {
            $out = Mount-GuestFs -Device /dev/sda9 -MountPoint / -Passphrase $pwA -PassThru -Verbose *>&1
            ($out | Where-Object { $_ -is [GuestFs.Engine.Library.GuestMountInfo] }).Device | Should -Be '/dev/mapper/luks-sda9'
            ($out | Out-String) | Should -Not -Match ([regex]::Escape($LuksPassphraseA))
            Get-GuestContent /hello.txt -Raw | Should -Be "hello from luksA`n"
            Dismount-GuestFs -MountPoint /
        }
        It 'Open-GuestDisk -Passphrase unlocks the devices the passphrase fits and reports the others' {
            $log = Open-GuestDisk -Path $storage.Gpt -Format raw -Passphrase $pwB -Verbose -ErrorVariable err -ErrorAction SilentlyContinue *>&1
            $d = $log | Where-Object { $_ -is [GuestFs.PowerShell.GuestDisk] }
            try {
                $d | Should -Not -BeNullOrEmpty
                ($log | Out-String) | Should -Not -Match ([regex]::Escape($LuksPassphraseB))
                @($err | Where-Object { $_.FullyQualifiedErrorId -match '^UnlockFailed' }).TargetObject | Should -Be '/dev/sda9'
                # The unlocked device itself (listing all ten partitions' filesystems costs half a minute under TCG).
                Invoke-GuestFsApi -Disk $d vfs_type -Arguments @{ mountable = '/dev/mapper/luks-sda10' } | Should -Be 'ext4'
                Invoke-GuestFsApi -Disk $d vfs_label -Arguments @{ mountable = '/dev/mapper/luks-sda10' } | Should -Be 'gfs-luksB'
                Mount-GuestFs -Disk $d -Device /dev/mapper/luks-sda10 -MountPoint / -ReadOnly
                Get-GuestContent -Disk $d /hello.txt -Raw | Should -Be "hello from luksB`n"
            }
            finally { if ($d) { Close-GuestDisk -Disk $d } }
        }
    }
}

Describe 'Every struct the daemon returns decodes as guestfish prints it (real replies)' -Tag 'Appliance', 'Storage', 'Differential' -Skip:$noGuestfish {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/GuestImages.ps1
        . $PSScriptRoot/Guestfish.ps1
        $storage = Get-GuestFsStorageImages
        $fishImage = Join-Path $TestDrive 'fish.qcow2'
        $oursImage = Join-Path $TestDrive 'ours.qcow2'
        foreach ($o in $fishImage, $oursImage) { & qemu-img create -q -f qcow2 -F raw -b $storage.Gpt $o }
        # An ISO 9660 image as a second disk (for the isoinfo struct), made on the host.
        $script:iso = $null
        if (Get-Command genisoimage -ErrorAction SilentlyContinue) {
            New-Item -ItemType Directory -Path "$TestDrive/isotree" | Out-Null
            Set-Content -Path "$TestDrive/isotree/readme.txt" -Value 'iso for isoinfo'
            & genisoimage -quiet -V GFSISO -A GFSAPP -p GFSPREP -publisher GFSPUB -o "$TestDrive/test.iso" "$TestDrive/isotree" 2>$null
            foreach ($n in 'fish-iso.qcow2', 'ours-iso.qcow2') { & qemu-img create -q -f qcow2 -F raw -b "$TestDrive/test.iso" "$TestDrive/$n" }
            $script:iso = $true
        }
        $fishImages = @($fishImage) + @(if ($iso) { "$TestDrive/fish-iso.qcow2" })
        $oursImages = @($oursImage) + @(if ($iso) { "$TestDrive/ours-iso.qcow2" })
        $script:fish = Start-Guestfish -Images $fishImages -Writable -Directory $TestDrive
        $script:disk = Open-GuestDisk -Path $oursImages -Writable
        # Runs one call on both sides (after the same preparation) and returns both results.
        function Invoke-Both([string[]] $FishCommand, [string] $Api, [hashtable] $Arguments) {
            $f = Invoke-Guestfish $fish $FishCommand[0] @($FishCommand | Select-Object -Skip 1)
            $f.Ok | Should -BeTrue -Because "guestfish $($FishCommand -join ' '): $($f.Error)"
            $o = Invoke-GuestFsApi -Name $Api -Arguments $Arguments -ErrorAction Stop
            [pscustomobject]@{ Fish = $f.Output; Ours = $o }
        }
        function Assert-StructList($r, [string[]] $Ignore = @()) {
            $fl = ConvertFrom-GuestfishStructList $r.Fish
            $ol = @($r.Ours)
            $fl.Count | Should -BeGreaterThan 0
            $ol.Count | Should -Be $fl.Count
            for ($i = 0; $i -lt $fl.Count; $i++) { Compare-StructFields $fl[$i] $ol[$i] $Ignore | Should -BeNullOrEmpty }
        }
        function Assert-Struct($r, [string[]] $Ignore = @()) {
            $f = ConvertFrom-GuestfishStruct $r.Fish
            @($f.Keys).Count | Should -BeGreaterThan 0
            Compare-StructFields $f $r.Ours $Ignore | Should -BeNullOrEmpty
        }
    }
    AfterAll {
        Stop-Guestfish $fish
        Close-GuestDisk -All
    }

    It 'lvm_pv (pvs_full)' { Assert-StructList (Invoke-Both @('pvs-full') pvs_full @{}) }
    It 'lvm_vg (vgs_full)' { Assert-StructList (Invoke-Both @('vgs-full') vgs_full @{}) }
    It 'lvm_lv (lvs_full)' { Assert-StructList (Invoke-Both @('lvs-full') lvs_full @{}) }
    It 'partition (part_list of a GPT disk)' { Assert-StructList (Invoke-Both @('part-list', '/dev/sda') part_list @{ device = '/dev/sda' }) }
    It 'internal_mountable (internal_parse_mountable)' -Skip:('btrfs' -notin $madeNames) {
        # guestfish has no command for the internal call; it is compared with mountable-device/-subvolume.
        $m = Invoke-GuestFsApi internal_parse_mountable 'btrfsvol:/dev/sda5/sub1'
        $m.ImType | Should -Be 1
        $m.ImDevice | Should -Be ((Invoke-Guestfish $fish 'mountable-device' 'btrfsvol:/dev/sda5/sub1').Output.Trim())
        $m.ImVolume | Should -Be ((Invoke-Guestfish $fish 'mountable-subvolume' 'btrfsvol:/dev/sda5/sub1').Output.Trim())
    }
    It 'btrfssubvolume (btrfs_subvolume_list)' -Skip:('btrfs' -notin $madeNames) {
        (Invoke-Guestfish $fish 'mount' @('/dev/sda5', '/')).Ok | Should -BeTrue
        Mount-GuestFs -Device /dev/sda5 -MountPoint /
        Assert-StructList (Invoke-Both @('btrfs-subvolume-list', '/') btrfs_subvolume_list @{ fs = '/' })
    }
    It 'btrfsscrub (btrfs_scrub_status)' -Skip:('btrfs' -notin $madeNames) {
        Assert-Struct (Invoke-Both @('btrfs-scrub-status', '/') btrfs_scrub_status @{ path = '/' }) -Ignore @('btrfsscrub_duration')
    }
    It 'btrfsbalance (btrfs_balance_status)' -Skip:('btrfs' -notin $madeNames) {
        Assert-Struct (Invoke-Both @('btrfs-balance-status', '/') btrfs_balance_status @{ path = '/' })
    }
    It 'btrfsqgroup (btrfs_qgroup_show, quotas enabled on both sides)' -Skip:('btrfs' -notin $madeNames) {
        (Invoke-Guestfish $fish 'btrfs-quota-enable' @('/', 'true')).Ok | Should -BeTrue
        (Invoke-Guestfish $fish 'btrfs-quota-rescan' '/').Ok | Should -BeTrue
        Invoke-GuestFsApi btrfs_quota_enable -fs / -enable $true
        Invoke-GuestFsApi btrfs_quota_rescan -fs /
        Assert-StructList (Invoke-Both @('btrfs-qgroup-show', '/') btrfs_qgroup_show @{ path = '/' }) -Ignore @('btrfsqgroup_rfer', 'btrfsqgroup_excl')
        (Invoke-Guestfish $fish 'umount' '/').Ok | Should -BeTrue
        Dismount-GuestFs -MountPoint /
    }
    It 'xfsinfo (xfs_info)' -Skip:('xfs' -notin $madeNames) {
        (Invoke-Guestfish $fish 'mount' @('/dev/sda4', '/')).Ok | Should -BeTrue
        Mount-GuestFs -Device /dev/sda4 -MountPoint /
        Assert-Struct (Invoke-Both @('xfs-info', '/') xfs_info @{ pathordevice = '/' })
    }
    It 'isoinfo (isoinfo_device of an ISO 9660 disk made with genisoimage)' {
        if (-not $iso) { Set-ItResult -Skipped -Because 'genisoimage is not installed (build.ps1 -Task Bootstrap installs it as root)'; return }
        $r = Invoke-Both @('isoinfo-device', '/dev/sdb') isoinfo_device @{ device = '/dev/sdb' }
        Assert-Struct $r
        $r.Ours.IsoVolumeId | Should -Be 'GFSISO'
        $r.Ours.IsoPublisherId | Should -Be 'GFSPUB'
    }
    It 'mdstat (md_stat of a RAID1 built on two new logical volumes, on both sides)' {
        foreach ($lv in 'md1', 'md2') {
            (Invoke-Guestfish $fish 'lvcreate' @($lv, 'gfsvg', '16')).Ok | Should -BeTrue
            Invoke-GuestFsApi lvcreate -logvol $lv -volgroup gfsvg -mbytes 16
        }
        (Invoke-Guestfish $fish 'md-create' @('md127', '/dev/gfsvg/md1 /dev/gfsvg/md2', 'level:raid1')).Ok | Should -BeTrue
        Invoke-GuestFsApi md_create -Arguments @{ name = 'md127'; devices = @('/dev/gfsvg/md1', '/dev/gfsvg/md2'); level = 'raid1' }
        $r = Invoke-Both @('md-stat', '/dev/md127') md_stat @{ md = '/dev/md127' }
        Assert-StructList $r
        @($r.Ours) | ForEach-Object { $_.MdstatDevice | Should -Match '^/dev/dm-\d+$' }
        @($r.Ours).Count | Should -Be 2
    }
    It 'inotify_event (inotify_read after creating a file)' -Skip:('xfs' -notin $madeNames) {
        foreach ($side in 'fish', 'ours') {
            if ($side -eq 'fish') {
                foreach ($c in @(@('inotify-init', '16'), @('inotify-add-watch', '/', '256'), @('touch', '/created'))) { (Invoke-Guestfish $fish $c[0] @($c | Select-Object -Skip 1)).Ok | Should -BeTrue }
            }
            else {
                Invoke-GuestFsApi inotify_init -maxevents 16
                Invoke-GuestFsApi inotify_add_watch -path / -mask 256 | Out-Null
                Invoke-GuestFsApi touch -path /created
            }
        }
        $r = Invoke-Both @('inotify-read') inotify_read @{}
        Assert-StructList $r -Ignore @('in_wd', 'in_cookie')
        @($r.Ours).InName | Should -Contain 'created'
        (Invoke-Guestfish $fish 'umount' '/').Ok | Should -BeTrue
        Dismount-GuestFs -MountPoint /
    }
}
