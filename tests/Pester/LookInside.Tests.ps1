# Looking inside images: the library-side calls filesystem_walk, find_inode, yara_scan,
# journal_get and inspect_get_icon, and the cmdlets Get-GuestDiskUsage, Get-GuestFileHash,
# Get-GuestJournal and Find-GuestDeletedItem, each compared with the real tool on the same
# image in the same run: guestfish, virt-df --csv (and -i), virt-ls -lR --checksum, sha256sum,
# virt-log and journalctl --file. Images: lookinside-<v>.img (LookInsideImages.ps1) and the
# base image (its 1,980-file /data/tree).
# Launches: one GuestFs session per image (warm), one guestfish, and virt-df twice, virt-log
# and virt-ls once each (cold boots: the reference tools; these four in a background lane,
# ReferenceLane.ps1, while the foreground works).
BeforeDiscovery {
    . $PSScriptRoot/TestSupport.ps1
}

BeforeAll {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    . $PSScriptRoot/Guestfish.ps1
    . $PSScriptRoot/LookInsideImages.ps1
    $script:li = Get-LookInsideImage
    $script:tmp = Join-Path ([IO.Path]::GetTempPath()) ("gfs-lookinside-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $tmp | Out-Null
    $env:LIBGUESTFS_BACKEND = 'direct'
    if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }
    # Runs a guestfs-tool and returns its stdout lines; a failure stops the test (the comparison would prove nothing).
    function Invoke-Tool([string] $Exe, [string[]] $Arguments, [hashtable] $Environment = @{}) {
        $psi = [Diagnostics.ProcessStartInfo]::new($Exe)
        foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
        foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
        $psi.StandardOutputEncoding = [Text.Encoding]::UTF8
        $p = [Diagnostics.Process]::Start($psi)
        $errTask = $p.StandardError.ReadToEndAsync()
        $out = $p.StandardOutput.ReadToEnd()
        $p.WaitForExit()
        if ($p.ExitCode -ne 0) { throw "$Exe $($Arguments -join ' ') failed ($($p.ExitCode)): $($errTask.Result)" }
        @($out -split "`n" | Where-Object { $_ -ne '' })
    }
    # The reference runs that need nothing from GuestFs go to a background lane now, while the
    # foreground does guestfish's comparisons and GuestFs's side; each block takes its output.
    $script:base = Get-GuestFsBaseImage
    $jobs = [ordered]@{
        df = ConvertTo-BashLine @('virt-df', '--csv', '--format=raw', '-a', $li.Image)
        dfi = ConvertTo-BashLine @('virt-df', '--csv', '-i', '--format=raw', '-a', $li.Image)
        ls = ConvertTo-BashLine @('virt-ls', '-lR', '--csv', '--checksum=sha256', '--format=raw', '-a', $base, '-m', '/dev/sda1', '/data/tree')
        log = 'TZ=UTC ' + (ConvertTo-BashLine @('virt-log', '--format=raw', '-a', $li.Image))
    }
    $script:lane = Start-ReferenceLane $tmp $jobs
    function Get-ReferenceOutput([string] $Name) { @(Wait-ReferenceJob $lane $Name | Where-Object { $_ -ne '' }) }
}

AfterAll {
    Stop-ReferenceLane $script:lane
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}

Describe 'Look inside: library-side calls compared with guestfish' -Tag 'Appliance', 'LookInside' {
    BeforeAll {
        $script:disk = Open-GuestDisk -Path $li.Image -Format raw
        $script:rules = Join-Path $tmp 'marker.yar'
        Set-Content -Path $rules -Value "rule gfs_marker { strings: `$m = `"$($li.YaraMarker)`" condition: `$m }"
        # One guestfish for every comparison of this block.
        $script:fish = Start-Guestfish -Images $li.Image -Format raw -Directory $tmp
        $script:fishWalk2 = ConvertFrom-GuestfishStructList (Invoke-Guestfish $fish 'filesystem-walk' '/dev/sda2').Output
        $script:fishWalk3 = ConvertFrom-GuestfishStructList (Invoke-Guestfish $fish 'filesystem-walk' '/dev/sda3').Output
        $script:ntfsKeepInode = ($fishWalk3 | Where-Object { $_.tsk_name -eq 'keep.txt' }).tsk_inode
        $script:fishFind = ConvertFrom-GuestfishStructList (Invoke-Guestfish $fish 'find-inode' '/dev/sda3', $ntfsKeepInode).Output
        $script:fishNoFs = Invoke-Guestfish $fish 'filesystem-walk' '/dev/sda4'
        [void](Invoke-Guestfish $fish 'mount-ro' '/dev/sda1', '/')
        $script:fishYaraLoad = Invoke-Guestfish $fish 'yara-load' $rules
        $script:fishYara = ConvertFrom-GuestfishStructList (Invoke-Guestfish $fish 'yara-scan' '/data/yara.txt').Output
        $script:fishYaraClean = ConvertFrom-GuestfishStructList (Invoke-Guestfish $fish 'yara-scan' '/data/clean.txt').Output
        [void](Invoke-Guestfish $fish 'journal-open' '/var/log/journal')
        [void](Invoke-Guestfish $fish 'journal-next')
        $script:fishJournal = (Invoke-Guestfish $fish 'journal-get').Output
        [void](Invoke-Guestfish $fish 'journal-close')
        $script:fishAvail = (Invoke-Guestfish $fish 'feature-available' 'libtsk libyara journal hivex').Output.Trim()
        [void](Invoke-Guestfish $fish 'umount-all')
        [void](Invoke-Guestfish $fish 'inspect-os')
        [void](Invoke-Guestfish $fish 'mount-ro' '/dev/sda1', '/')
        # inspect-get-icon prints the PNG bytes raw: capture them through a file.
        $iconFile = Join-Path $tmp 'fish-icon.png'
        & bash -c 'guestfish --remote=$1 -- inspect-get-icon /dev/sda1 > "$2"' bash $fish.Pid $iconFile
        $script:fishIcon = [IO.File]::ReadAllBytes($iconFile)
        Stop-Guestfish $fish
        function Api([string] $Name, [hashtable] $A = @{}) { Invoke-GuestFsApi $Name -Arguments $A -Disk $disk -ErrorAction Stop }
        function Compare-Dirents($Fish, $Ours) {
            $Ours.Count | Should -Be $Fish.Count
            $byName = @{}; foreach ($o in $Ours) { $byName[$o.TskName] = $o }
            foreach ($f in $Fish) {
                $o = $byName[$f.tsk_name]
                $o | Should -Not -BeNullOrEmpty -Because "guestfish lists $($f.tsk_name)"
                Compare-StructFields $f $o | Should -BeNullOrEmpty
            }
        }
    }
    AfterAll { Close-GuestDisk -All }

    It 'feature_available says libtsk, libyara, journal and hivex are here, as guestfish does' {
        Api feature_available @{ groups = 'libtsk', 'libyara', 'journal', 'hivex' } | Should -BeTrue
        $fishAvail | Should -Be 'true'
        Api available @{ groups = 'libtsk', 'libyara', 'journal', 'hivex' } | Should -BeNullOrEmpty
    }

    It 'filesystem_walk on ext4 decodes every tsk_dirent as guestfish does, deleted entries included' {
        $ours = @(Api filesystem_walk @{ device = '/dev/sda2' })
        Compare-Dirents $fishWalk2 $ours
        ($ours | Where-Object TskName -eq 'keep.txt').TskFlags -band 1 | Should -Be 1
        # The appliance's kernel (>= 5.14) wipes an ext4 directory entry when the file is deleted,
        # so sleuthkit finds no name for gone1.txt / gone2.bin on ext4 (guestfish agrees, above).
        @($ours | Where-Object { $_.TskName -like 'gone*' -and ($_.TskFlags -band 1) }).Count | Should -Be 0
    }

    It 'filesystem_walk on NTFS agrees with guestfish' {
        Compare-Dirents $fishWalk3 @(Api filesystem_walk @{ device = '/dev/sda3' })
    }

    It 'find_inode returns the names of one inode as guestfish does' {
        $ours = @(Api find_inode @{ device = '/dev/sda3'; inode = [long]$ntfsKeepInode })
        $ours.Count | Should -BeGreaterThan 0
        Compare-Dirents $fishFind $ours
    }

    It 'a device without a filesystem gives the daemon''s error, as guestfish does' {
        $fishNoFs.Ok | Should -BeFalse
        { Api filesystem_walk @{ device = '/dev/sda4' } } | Should -Throw -ErrorId 'ApiCallFailed,GuestFs.PowerShell.Commands.InvokeGuestFsApiCommand'
    }

    Context 'with the root mounted' {
        BeforeAll { Mount-GuestFs -Disk $disk -Device /dev/sda1 -MountPoint / -ReadOnly }
        AfterAll { if (Get-GuestMount -Disk $disk) { Dismount-GuestFs -Disk $disk -MountPoint / } }

        It 'yara_scan after yara_load finds the rule that guestfish finds, and nothing in a clean file' {
            $fishYaraLoad.Ok | Should -BeTrue
            Api yara_load @{ filename = $rules } | Out-Null
            $hits = @(Api yara_scan @{ path = '/data/yara.txt' })
            $hits.Count | Should -Be 1
            $hits.Count | Should -Be $fishYara.Count
            Compare-StructFields $fishYara[0] $hits[0] | Should -BeNullOrEmpty
            $hits[0].YaraRule | Should -Be 'gfs_marker'
            @(Api yara_scan @{ path = '/data/clean.txt' }).Count | Should -Be $fishYaraClean.Count
            @(Api yara_scan @{ path = '/data/clean.txt' }).Count | Should -Be 0
        }

        It 'a missing yara rule file is a clear error naming it, and nothing is sent' {
            $missing = Join-Path $tmp 'no-such-rules.yar'
            $err = $null
            Invoke-GuestFsApi yara_load -Arguments @{ filename = $missing } -Disk $disk -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'ApiCallFailed,*'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].Exception.Message | Should -BeLike "*$missing*"
        }

        It 'journal_get returns the fields of the first entry as guestfish prints them' {
            Api journal_open @{ directory = '/var/log/journal' } | Out-Null
            try {
                Api journal_next | Should -BeTrue
                $fields = @(Api journal_get)
            }
            finally { Api journal_close | Out-Null }
            $fishFields = [ordered]@{}
            foreach ($x in (ConvertFrom-GuestfishStructList $fishJournal)) { $fishFields[$x.attrname] = $x.attrval }
            $fishFields.Count | Should -BeGreaterThan 5
            $ours = [ordered]@{}; foreach ($f in $fields) { $ours[$f.Attrname] = [Text.Encoding]::UTF8.GetString($f.Attrval) }
            ($ours.Keys | Sort-Object) | Should -Be ($fishFields.Keys | Sort-Object)
            foreach ($k in $fishFields.Keys) { $ours[$k] | Should -Be $fishFields[$k] -Because $k }
            $ours['MESSAGE'] | Should -Be 'entry number 1'
        }

        It 'inspect_get_icon returns /etc/favicon.png byte for byte, as guestfish does' {
            $root = @(Invoke-GuestFsApi inspect_os -Disk $disk)[0]
            $root | Should -Be '/dev/sda1'
            # inspect_os unmounts everything; mount the root again, as guestfish -i would.
            if (-not (Get-GuestMount -Disk $disk)) { Mount-GuestFs -Disk $disk -Device /dev/sda1 -MountPoint / -ReadOnly }
            $icon = Api inspect_get_icon @{ root = '/dev/sda1' }
            $icon.Length | Should -BeGreaterThan 50
            $fishIcon.Length | Should -Be $icon.Length
            [Convert]::ToHexString($icon) | Should -Be ([Convert]::ToHexString($fishIcon))
            [Convert]::ToHexString($icon) | Should -Be ([Convert]::ToHexString((New-LookInsidePng)))
        }
    }
}

Describe 'Look inside: Find-GuestDeletedItem' -Tag 'Appliance', 'LookInside' {
    BeforeAll { $script:disk = Open-GuestDisk -Path $li.Image -Format raw }
    AfterAll { Close-GuestDisk -All }

    It 'returns exactly the unallocated entries of the walk, and everything with -All (ext4 and NTFS)' {
        foreach ($dev in '/dev/sda2', '/dev/sda3') {
            $walk = @(Invoke-GuestFsApi filesystem_walk -Arguments @{ device = $dev })
            $del = @(Find-GuestDeletedItem $dev)
            @($del.Name | Sort-Object) | Should -Be @($walk | Where-Object { -not ($_.TskFlags -band 1) } | ForEach-Object TskName | Sort-Object) -Because $dev
            $del | ForEach-Object { $_.Deleted | Should -BeTrue }
            $del.Name | Should -Not -Contain 'keep.txt'
        }
        # ext4 on this kernel wipes deleted directory entries (see the filesystem_walk test); NTFS keeps them.
        @(Find-GuestDeletedItem /dev/sda3).Name | Should -Contain 'deleted.bin'
        $all = @(Find-GuestDeletedItem /dev/sda2 -All)
        $all.Name | Should -Contain 'keep.txt'
        $all.Count | Should -Be @(Invoke-GuestFsApi filesystem_walk -Arguments @{ device = '/dev/sda2' }).Count
    }

    It 'recovers a file deleted on NTFS with download_inode, byte for byte' {
        $hit = @(Find-GuestDeletedItem -FileSystem /dev/sda3 -Filter 'deleted.bin')
        $hit.Count | Should -Be 1
        $hit[0].Deleted | Should -BeTrue
        $hit[0].Size | Should -Be 6000
        $out = Join-Path $tmp 'recovered.bin'
        Invoke-GuestFsApi download_inode -Arguments @{ device = '/dev/sda3'; inode = $hit[0].Inode; filename = $out } -ErrorAction Stop
        [Convert]::ToHexString([IO.File]::ReadAllBytes($out)) | Should -Be ([Convert]::ToHexString((Get-LookInsideDeletedBytes)))
    }

    It 'a device without a filesystem is a NotAFileSystem error naming it' {
        { Find-GuestDeletedItem /dev/sda4 -ErrorAction Stop } | Should -Throw -ErrorId 'NotAFileSystem,GuestFs.PowerShell.Commands.FindGuestDeletedItemCommand'
        $err = $null
        Find-GuestDeletedItem /dev/sda4 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].TargetObject | Should -Be '/dev/sda4'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'streams: Select-Object -First stops the walk and the session stays usable' {
        @(Find-GuestDeletedItem /dev/sda3 -All | Select-Object -First 2).Count | Should -Be 2
        @(Get-GuestFileSystem).Count | Should -BeGreaterThan 2
    }
}

Describe 'Look inside: Get-GuestDiskUsage compared with virt-df' -Tag 'Appliance', 'LookInside' {
    BeforeAll {
        $script:df = Get-ReferenceOutput df | ConvertFrom-Csv
        $script:dfi = Get-ReferenceOutput dfi | ConvertFrom-Csv
        $script:disk = Open-GuestDisk -Path $li.Image -Format raw
        $script:ours = @(Get-GuestDiskUsage)
        $script:fleet = @(Get-GuestDiskUsage -LiteralPath $li.Image -Format raw -ThrottleLimit 1)
    }
    AfterAll { Close-GuestDisk -All }

    It 'measures the same filesystems as virt-df (not the partition without one)' {
        $df.Count | Should -Be 3
        ($ours.FileSystem | Sort-Object) | Should -Be ($df.Filesystem | Sort-Object)
        $ours.FileSystem | Should -Not -Contain '/dev/sda4'
    }

    It 'agrees with virt-df --csv on 1K-blocks, used, available and use%' {
        foreach ($row in $df) {
            $o = $ours | Where-Object FileSystem -eq $row.Filesystem
            [long]($o.Size / 1KB) | Should -Be ([long]$row.'1K-blocks') -Because $row.Filesystem
            [long]($o.Used / 1KB) | Should -Be ([long]$row.Used) -Because $row.Filesystem
            [long]($o.Available / 1KB) | Should -Be ([long]$row.Available) -Because $row.Filesystem
            $o.UsePercent.ToString('0.0', [Globalization.CultureInfo]::InvariantCulture) | Should -Be $row.'Use%' -Because $row.Filesystem
        }
    }

    It 'agrees with virt-df --csv -i on inodes' {
        foreach ($row in $dfi) {
            $o = $ours | Where-Object FileSystem -eq $row.Filesystem
            $o.Inodes | Should -Be ([long]$row.Inodes) -Because $row.Filesystem
            $o.InodesUsed | Should -Be ([long]$row.IUsed) -Because $row.Filesystem
            $o.InodesFree | Should -Be ([long]$row.IFree) -Because $row.Filesystem
            $o.InodesUsePercent.ToString('0.0', [Globalization.CultureInfo]::InvariantCulture) | Should -Be $row.'IUse%' -Because $row.Filesystem
        }
    }

    It 'with -LiteralPath gives the same figures, with virt-df''s name and ImagePath' {
        $fleet.Count | Should -Be $ours.Count
        foreach ($o in $fleet) {
            $o.Name | Should -Be (Split-Path $li.Image -Leaf)
            $o.ImagePath | Should -Be $li.Image
            $row = $df | Where-Object Filesystem -eq $o.FileSystem
            $row.VirtualMachine | Should -Be $o.Name
            [long]($o.Size / 1KB) | Should -Be ([long]$row.'1K-blocks')
        }
    }

    It 'round-trips through Export-Csv and shows the inode view with -Inode' {
        $csv = Join-Path $tmp 'usage.csv'
        $ours | Export-Csv $csv
        $back = Import-Csv $csv
        $back[0].PSObject.Properties.Name | Should -Contain 'UsePercent'
        $back[0].PSObject.Properties.Name | Should -Contain 'InodesFree'
        ($ours | Format-Table | Out-String -Width 200) | Should -Match '1K-blocks'
        (Get-GuestDiskUsage -Inode | Format-Table | Out-String -Width 200) | Should -Match 'IUse%'
    }

    It 'in a session with / in use, measures what is mounted and warns about the rest' {
        Mount-GuestFs -Disk $disk -Device /dev/sda2 -MountPoint / -ReadOnly
        try {
            $w = $null
            $r = @(Get-GuestDiskUsage -WarningVariable w -WarningAction SilentlyContinue)
            $r.FileSystem | Should -Be '/dev/sda2'
            [long]($r[0].Size / 1KB) | Should -Be ([long]($df | Where-Object Filesystem -eq '/dev/sda2').'1K-blocks')
            ($w -join "`n") | Should -Match '/dev/sda1.*/ is in use'
        }
        finally { Dismount-GuestFs -Disk $disk -MountPoint / }
    }
}

Describe 'Look inside: Get-GuestFileHash compared with virt-ls --checksum and sha256sum' -Tag 'Appliance', 'LookInside' {
    BeforeAll {
        $script:ls = Get-ReferenceOutput ls
        $script:lsSums = @{}
        foreach ($l in $ls) { $f = $l -split ','; if ($f[0] -eq '-') { $lsSums[$f[4]] = $f[3] } }
        $script:disk = Open-GuestDisk -Path $base -Format raw
        Mount-GuestFs -Disk $disk -Device /dev/sda1 -MountPoint / -ReadOnly
    }
    AfterAll { Close-GuestDisk -All }

    It 'hashes the 1,980-file tree in one call with the same SHA256 as virt-ls' {
        $lsSums.Count | Should -Be 1980
        $ours = @(Get-GuestFileHash /data/tree -Recurse)
        $ours.Count | Should -Be $lsSums.Count
        foreach ($h in $ours) {
            $h.Algorithm | Should -Be 'SHA256'
            $h.Hash | Should -BeExactly $h.Hash.ToUpperInvariant()
            $h.Hash.ToLowerInvariant() | Should -Be $lsSums[$h.Path] -Because $h.Path
        }
        $ours[0].Disk | Should -BeOfType ([int]) -Because 'results carry the disk Id, not the session (JSON, CSV, remoting)'
        ($ours[0] | ConvertTo-Json -WarningAction SilentlyContinue -WarningVariable w) | Should -Not -Match 'LaunchStages'
        @($w).Count | Should -Be 0
    }

    It 'agrees with sha256sum and Get-FileHash on copies of the files, for every algorithm' {
        $dest = Join-Path $tmp 'small'
        New-Item -ItemType Directory $dest | Out-Null
        Copy-GuestItem -Disk $disk -Path /data/small -Destination $dest -Recurse
        $host256 = @{}
        foreach ($l in (& sha256sum (Get-ChildItem -Recurse -File $dest).FullName)) { $h, $p = $l -split '  ', 2; $host256[(Split-Path $p -Leaf)] = $h }
        $host256.Count | Should -Be 50
        $ours = @(Get-GuestChildItem /data/small | Get-GuestFileHash)
        $ours.Count | Should -Be 50
        foreach ($h in $ours) { $h.Hash.ToLowerInvariant() | Should -Be $host256[(Split-Path $h.Path -Leaf)] }
        $one = Get-ChildItem -Recurse -File $dest | Where-Object Name -eq 'file07.txt'
        foreach ($alg in 'MD5', 'SHA1', 'SHA256', 'SHA384', 'SHA512') {
            (Get-GuestFileHash /data/small/file07.txt -Algorithm $alg).Hash | Should -Be (Get-FileHash $one.FullName -Algorithm $alg).Hash -Because $alg
        }
    }

    It 'a directory without -Recurse is a PathIsDirectory error; a missing file is ObjectNotFound' {
        { Get-GuestFileHash /data/tree -ErrorAction Stop } | Should -Throw -ErrorId 'PathIsDirectory,GuestFs.PowerShell.Commands.GetGuestFileHashCommand'
        $err = $null
        Get-GuestFileHash -LiteralPath /data/nope.txt -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'streams: the first results arrive as objects and Select-Object -First stops the walk' {
        @(Get-GuestFileHash /data/tree -Recurse | Select-Object -First 3).Count | Should -Be 3
        (Get-GuestFileHash /etc/hostname).Path | Should -Be '/etc/hostname'
    }
}

Describe 'Look inside: Get-GuestJournal compared with virt-log and journalctl' -Tag 'Appliance', 'LookInside' {
    BeforeAll {
        $script:vlog = Get-ReferenceOutput log
        $script:jctl = @(Invoke-Tool journalctl @('--file', $li.Journal, '-o', 'json', '--no-pager') | ForEach-Object { $_ | ConvertFrom-Json })
        $script:disk = Open-GuestDisk -Path $li.Image -Format raw
        Mount-GuestFs -Disk $disk -Device /dev/sda1 -MountPoint / -ReadOnly
        $script:entries = @(Get-GuestJournal)
        function Format-VirtLog($e) {
            $t = $e.TimeCreated.ToString('MMM dd HH:mm:ss', [Globalization.CultureInfo]::InvariantCulture)
            "$t $($e.Identifier)[$($e.ProcessId)] $($e.Level): $($e.Message)"
        }
    }
    AfterAll { Close-GuestDisk -All }

    It 'returns every entry, printed as virt-log prints it' {
        $vlog.Count | Should -Be 12
        $entries.Count | Should -Be 12
        for ($i = 0; $i -lt 12; $i++) { Format-VirtLog $entries[$i] | Should -BeExactly $vlog[$i] }
    }

    It 'agrees with journalctl --file on the same journal file: times, priorities, units, pids, messages' {
        $jctl.Count | Should -Be 12
        for ($i = 0; $i -lt 12; $i++) {
            $j = $jctl[$i]; $e = $entries[$i]
            ([DateTimeOffset]$e.TimeCreated).ToUnixTimeMilliseconds() * 1000 | Should -Be ([long]$j.__REALTIME_TIMESTAMP)
            $e.Message | Should -BeExactly $j.MESSAGE
            $e.Unit | Should -Be $j._SYSTEMD_UNIT
            $e.ProcessId | Should -Be ([int]$j._PID)
            $e.Identifier | Should -Be $j.SYSLOG_IDENTIFIER
            $e.Priority | Should -Be ($j.PRIORITY ? [int]$j.PRIORITY : 6)
            $e.Fields['_HOSTNAME'] | Should -Be $j._HOSTNAME
        }
    }

    It 'filters like journalctl: -Unit, -Priority, -Since/-Until, -Newest' {
        $u = Invoke-Tool journalctl @('--file', $li.Journal, '-o', 'json', '--no-pager', '-u', 'gfs-alpha.service') | ForEach-Object { $_ | ConvertFrom-Json }
        (@(Get-GuestJournal -Unit gfs-alpha*).Message) | Should -Be @($u.MESSAGE)
        $p = Invoke-Tool journalctl @('--file', $li.Journal, '-o', 'json', '--no-pager', '-p', 'err') | ForEach-Object { $_ | ConvertFrom-Json }
        (@(Get-GuestJournal -Priority err).Message) | Should -Be @($p.MESSAGE)
        (@(Get-GuestJournal -Priority 3).Message) | Should -Be @($p.MESSAGE)
        $since = [DateTime]::SpecifyKind([DateTime]'2023-11-15 01:13:20', 'Utc'); $until = $since.AddHours(3)
        $s = Invoke-Tool journalctl @('--file', $li.Journal, '-o', 'json', '--no-pager', '--since', '2023-11-15 01:13:20', '--until', '2023-11-15 04:13:20') @{ TZ = 'UTC' } | ForEach-Object { $_ | ConvertFrom-Json }
        (@(Get-GuestJournal -Since $since -Until $until).Message) | Should -Be @($s.MESSAGE)
        (@(Get-GuestJournal -Newest 2).Message) | Should -Be @('entry number 11', 'entry number 12')
    }

    It 'bad -Priority and an inverted time range are refused before touching the guest' {
        { Get-GuestJournal -Priority loud } | Should -Throw -ErrorId 'BadPriority,GuestFs.PowerShell.Commands.GetGuestJournalCommand'
        { Get-GuestJournal -Since '2024-01-02' -Until '2024-01-01' } | Should -Throw -ErrorId 'BadTimeRange,GuestFs.PowerShell.Commands.GetGuestJournalCommand'
    }

    It 'falls back to /var/log/messages when the guest has no journal, as virt-log does' {
        Dismount-GuestFs -Disk $disk -MountPoint /
        Mount-GuestFs -Disk $disk -Device /dev/sda2 -MountPoint / -ReadOnly
        try {
            $lines = @(Get-GuestJournal)
            $lines.Message | Should -Be @('Nov 14 22:13:20 lookinside kernel: first line', 'Nov 14 22:13:21 lookinside cron[12]: second line')
            $lines[0].Source | Should -Be '/var/log/messages'
        }
        finally { Dismount-GuestFs -Disk $disk -MountPoint /; Mount-GuestFs -Disk $disk -Device /dev/sda1 -MountPoint / -ReadOnly }
    }

    It 'a guest with neither a journal nor a text log is a NoGuestLog error' {
        Dismount-GuestFs -Disk $disk -MountPoint /
        Mount-GuestFs -Disk $disk -Device /dev/sda3 -MountPoint / -ReadOnly
        try {
            { Get-GuestJournal -ErrorAction Stop } | Should -Throw -ErrorId 'NoGuestLog,GuestFs.PowerShell.Commands.GetGuestJournalCommand'
        }
        finally { Dismount-GuestFs -Disk $disk -MountPoint /; Mount-GuestFs -Disk $disk -Device /dev/sda1 -MountPoint / -ReadOnly }
    }
}

Describe 'Look inside: Compare-GuestItem compared with virt-diff' -Tag 'Appliance', 'LookInside' {
    BeforeAll {
        # Two overlays of the look-inside image; the second is changed: one file added, one removed,
        # one edited to another size, one edited to the same size, one chmod.
        $script:ra = Join-Path $tmp 'ref.qcow2'; $script:rb = Join-Path $tmp 'dif.qcow2'
        foreach ($o in $ra, $rb) { & qemu-img create -q -f qcow2 -F raw -b $li.Image $o; if ($LASTEXITCODE) { throw 'qemu-img create failed' } }
        $w = Open-GuestDisk -Path $rb -Format qcow2 -Writable
        try {
            Mount-GuestFs -Disk $w -Device /dev/sda1 -MountPoint /
            Set-GuestContent -Disk $w -Path /data/new.txt -Value 'new'
            Remove-GuestItem -Disk $w -Path /data/clean.txt
            Set-GuestContent -Disk $w -Path /etc/hostname -Value 'somewhere-else'
            Invoke-GuestFsApi write -Arguments @{ path = '/etc/hosts'; content = "127.0.0.2 localhost`n" } -Disk $w -ErrorAction Stop
            Invoke-GuestFsApi chmod -Arguments @{ mode = 384; path = '/etc/fstab' } -Disk $w -ErrorAction Stop
            # An extended attribute added to a file whose content stays the same.
            Invoke-GuestFsApi lsetxattr -Arguments @{ xattr = 'user.gfs.tag'; val = 'tagged'; vallen = 6; path = '/data/yara.txt' } -Disk $w -ErrorAction Stop
        }
        finally { Close-GuestDisk -Disk $w }
        # virt-diff --csv: "+"/"-" rows (type, perms, size, path), "=" for content, "#,changed:,…" after a -/+ pair.
        function ConvertFrom-VirtDiff([string[]] $Lines) {
            $map = @{}
            $rows = @($Lines | ForEach-Object { , ($_ -split ',') })
            for ($k = 0; $k -lt $rows.Count; $k++) {
                $r = $rows[$k]
                switch ($r[0]) {
                    '=' { $map[$r[4]] = 'Modified' }
                    '-' { if ($k + 2 -lt $rows.Count -and $rows[$k + 2][0] -eq '#') { $map[$r[4]] = 'Modified'; $k += 2 } else { $map[$r[4]] = 'Removed' } }
                    '+' { $map[$r[4]] = 'Added' }
                }
            }
            $map
        }
        $script:vd = @(Invoke-Tool virt-diff @('--csv', '--xattrs', '--format=qcow2', '-a', $ra, '-A', $rb))
        $script:expect = ConvertFrom-VirtDiff $vd
        $script:a = Open-GuestDisk -Path $ra -Format qcow2 -Inspect
        $script:b = Open-GuestDisk -Path $rb -Format qcow2 -Inspect
        $script:ours = @(Compare-GuestItem $a $b -IncludeTime -IncludeXattr)
        # Once in 20+ runs virt-diff listed a dozen unchanged paths (/, /bin, /etc/favicon.png …)
        # and a rerun on the same overlays did not. When its answer differs from ours it is asked
        # once more; both answers go with a failure. A real difference in ours fails both times.
        $script:vdFirst = $null
        $gotPaths = @($ours.Path | Sort-Object) -join "`n"
        if ($gotPaths -cne (@($expect.Keys | Sort-Object) -join "`n")) {
            $script:vdFirst = $vd
            $script:vd = @(Invoke-Tool virt-diff @('--csv', '--xattrs', '--format=qcow2', '-a', $ra, '-A', $rb))
            $script:expect = ConvertFrom-VirtDiff $vd
            Write-Warning "virt-diff disagreed with Compare-GuestItem and was run again; first answer:`n$($vdFirst -join "`n")"
        }
    }
    AfterAll { Close-GuestDisk -All }

    It 'finds the same added, removed and modified paths as virt-diff' {
        $expect.Count | Should -BeGreaterOrEqual 5
        $got = @{}; foreach ($d in $ours) { $got[$d.Path] = $d.Change }
        $said = "virt-diff said:`n" + ($vd -join "`n")
        if ($vdFirst) { $said += "`nand the first time:`n" + ($vdFirst -join "`n") }
        ($got.Keys | Sort-Object) | Should -Be ($expect.Keys | Sort-Object) -Because $said
        foreach ($k in $expect.Keys) { $got[$k] | Should -Be $expect[$k] -Because $k }
    }

    It 'says what changed: content by hash for a same-size edit, mode for a chmod' {
        $plain = @(Compare-GuestItem $a $b)
        ($plain | Where-Object Path -eq '/etc/hosts').Changes | Should -Be @('Content')
        ($plain | Where-Object Path -eq '/etc/hosts').ReferenceHash | Should -Not -Be ($plain | Where-Object Path -eq '/etc/hosts').DifferenceHash
        ($plain | Where-Object Path -eq '/etc/fstab').Changes | Should -Be @('Mode')
        ($plain | Where-Object Path -eq '/etc/hostname').Changes | Should -Contain 'Content'
        ($plain | Where-Object Path -eq '/data/new.txt').Change | Should -Be 'Added'
        ($plain | Where-Object Path -eq '/data/clean.txt').Change | Should -Be 'Removed'
        $plain.Path | Should -Not -Contain '/data/yara.txt' -Because 'without -IncludeTime or -IncludeXattr an xattr change is no change'
    }

    It 'with -IncludeXattr names the extended attribute that changed, as virt-diff --xattrs sees it' {
        $expect['/data/yara.txt'] | Should -Be 'Modified' -Because 'virt-diff --xattrs reports the file'
        $x = @(Compare-GuestItem $a $b -IncludeXattr) | Where-Object Path -eq '/data/yara.txt'
        $x.Changes | Should -Be @('Xattr')
        $x.ChangedXattrs | Should -Be @('user.gfs.tag')
        (($ours | Where-Object Path -eq '/data/yara.txt').Changes) | Should -Contain 'Xattr'
    }

    It 'compares two directories of one disk' {
        $d = @(Compare-GuestItem -ReferenceDisk $b -Path /etc -DifferencePath /data)
        $d.Path | Should -Contain '/new.txt'
        ($d | Where-Object Path -eq '/new.txt').Change | Should -Be 'Added'
    }

    It 'refuses sides that cannot be compared, naming them' {
        { Compare-GuestItem -ReferenceDisk $a -Path /etc } | Should -Throw -ErrorId 'SameItem,GuestFs.PowerShell.Commands.CompareGuestItemCommand'
        { Compare-GuestItem $a $b -Path /etc/hosts } | Should -Throw -ErrorId 'NotComparable,GuestFs.PowerShell.Commands.CompareGuestItemCommand'
    }
}
