# What a new user hits in the first hour (issue 21), and the PowerShell-layer
# items of issue 14. One writable session on a throw-away overlay of the base
# image plus a blank second disk that gets its own ext4 filesystem, so the disk
# has two ext4 filesystems (one launch for the whole Describe).
Describe 'GuestFs as a new pwsh user finds it' -Tag 'NewUser', 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:image = New-GuestFsTestOverlay -Directory $TestDrive
        $script:second = Join-Path $TestDrive 'second.img'
        # Not a disk image: a text file (grown to 64 MiB so that mkfs can use it later).
        Set-Content -Path $second -Value 'just some notes, not a disk image'
        $f = [IO.File]::Open($second, 'Open'); $f.SetLength(64MB); $f.Dispose()
        $script:disk = Open-GuestDisk -Path $image, $second -Writable -WarningVariable ow
        $script:openWarnings = @($ow)
        Invoke-GuestFsApi mkfs -fstype ext4 -device /dev/sdb -Disk $disk | Out-Null
        # The first error a command writes (non-terminating) or throws (terminating).
        function script:ErrorOf([scriptblock] $Command) {
            try { $out = & $Command 2>&1 } catch { return $_ }
            @($out | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })[0]
        }
    }
    AfterAll { Close-GuestDisk -All -ErrorAction SilentlyContinue }

    Context 'opening' {
        It 'warns that a text file opened as a disk holds no partition table or filesystem' {
            ($openWarnings -join "`n") | Should -Match 'second\.img'
            ($openWarnings -join "`n") | Should -Match 'no partition table and no filesystem'
            ($openWarnings -join "`n") | Should -Not -Match 'work\.qcow2'
        }
    }

    Context 'before anything is mounted' {
        It 'Get-GuestChildItem / says nothing is mounted and how to mount, in PowerShell words' {
            $e = ErrorOf { Get-GuestChildItem / -Disk $disk }
            $e | Should -Not -BeNullOrEmpty
            $e.FullyQualifiedErrorId | Should -BeLike 'NothingMounted,*'
            $e.CategoryInfo.Category | Should -Be 'InvalidOperation'
            $e.Exception.Message | Should -Match 'Nothing is mounted on /'
            $e.Exception.Message | Should -Match 'Mount-GuestFs'
            $e.Exception.Message | Should -Match '-Inspect'
            $e.Exception.Message | Should -Not -Match '_stub|lstatns'
            # The daemon's own text is kept for experts.
            $e.Exception.InnerException.Message | Should -Match "mount' first"
        }
        It 'Test-GuestPath says the same instead of internal_lstatnslist' {
            $e = ErrorOf { Test-GuestPath /etc -Disk $disk }
            $e.FullyQualifiedErrorId | Should -BeLike 'NothingMounted,*'
            $e.Exception.Message | Should -Not -Match 'internal_'
        }
    }

    Context 'mounting the README way on a disk with two ext4 filesystems' {
        It 'mounts the first one listed on / and refuses the second on the used mount point' {
            $ext4 = @(Get-GuestFileSystem -Disk $disk | Where-Object Type -eq ext4)
            $ext4.Count | Should -Be 2
            $e = ErrorOf { Get-GuestFileSystem -Disk $disk | Where-Object Type -eq ext4 | Mount-GuestFs -MountPoint / }
            $e.FullyQualifiedErrorId | Should -BeLike 'MountPointInUse,*'
            $e.CategoryInfo.Category | Should -Be 'ResourceBusy'
            $e.Exception.Message | Should -Match '-Force'
            $e.Exception.Message | Should -Match ([regex]::Escape($ext4[0].Device))
            $mounts = @(Get-GuestMount -Disk $disk)
            $mounts.Count | Should -Be 1
            $mounts[0].MountPoint | Should -Be '/'
            $mounts[0].Device | Should -Be $ext4[0].Device
        }
        It '-Force skips the check (the mount itself is then up to the kernel)' {
            Dismount-GuestFs -All -Disk $disk
            Mount-GuestFs /dev/sda1 -MountPoint / -Disk $disk
            New-GuestItem /mnt -ItemType Directory -Force -Disk $disk | Out-Null
            Mount-GuestFs /dev/sdb -MountPoint /mnt -Disk $disk
            try {
                $e = ErrorOf { Mount-GuestFs /dev/sda1 -MountPoint /mnt -Disk $disk }
                $e.FullyQualifiedErrorId | Should -BeLike 'MountPointInUse,*'
                $e = ErrorOf { Mount-GuestFs /dev/sda1 -MountPoint /mnt -Disk $disk -Force }
                if ($e) { $e.FullyQualifiedErrorId | Should -Not -BeLike 'MountPointInUse,*' }
            }
            finally {
                while (@(Get-GuestMount -Disk $disk | Where-Object MountPoint -eq /mnt).Count -gt 0) { Dismount-GuestFs /mnt -Disk $disk }
            }
            (Get-GuestMount -Disk $disk).MountPoint | Should -Be '/'
            Test-GuestPath /etc/hostname -Disk $disk | Should -BeTrue
        }
    }

    Context 'errors and categories' {
        It 'a write to a read-only mount (EROFS) is a WriteError, as the FileSystem provider reports it' {
            Mount-GuestFs /dev/sdb -MountPoint /mnt -ReadOnly -Disk $disk
            try {
                $e = ErrorOf { Set-GuestContent /mnt/x.txt -Value 'x' -Disk $disk }
                $e.Exception.ErrnoName | Should -Be 'EROFS'
                $e.CategoryInfo.Category | Should -Be 'WriteError'
                $e.Exception.Message | Should -Match "'/mnt/x.txt' is on a filesystem mounted read-only"
                $e.Exception.Message | Should -Match '-Writable'
                $e.Exception.InnerException.DaemonMessage | Should -Match 'Read-only file system' -Because 'the daemon text stays for experts'
            }
            finally { Dismount-GuestFs /mnt -Disk $disk }
        }
        It 'reading a directory as content is InvalidType, naming the directory' {
            $e = ErrorOf { Get-GuestContent /etc -Disk $disk }
            $e | Should -Not -BeNullOrEmpty
            $e.CategoryInfo.Category | Should -Be 'InvalidType'
            $e.TargetObject | Should -Be '/etc'
            $e.Exception.Message | Should -Match "'/etc' is a directory"
        }
        It 'Get-GuestFsApi does not show an empty Summary column' {
            (Get-GuestFsApi mkfs, mount | Format-Table | Out-String) | Should -Not -Match 'Summary'
        }
        It 'GuestFs reaches into no PowerShell internals (no non-public reflection)' {
            $src = Join-Path $PSScriptRoot '../../src'
            @(Get-ChildItem $src -Recurse -Filter *.cs | Select-String -Pattern 'BindingFlags\.NonPublic|_debugPreference|_debugFlag').Count | Should -Be 0
        }
    }

    Context 'Invoke-GuestFsApi argument names' {
        It '-c is the call''s argument c, not -Confirm' {
            # fill c len path: 65 is "A".
            Invoke-GuestFsApi fill -c 65 -len 10 -path /filled -Disk $disk
            Get-GuestContent /filled -Raw -Disk $disk | Should -BeExactly 'AAAAAAAAAA'
            Invoke-GuestFsApi fill 66 3 /filled2 -Disk $disk
            Get-GuestContent /filled2 -Raw -Disk $disk | Should -BeExactly 'BBB'
        }
        It '-name for an argument called name says to use -ArgName' {
            $e = ErrorOf { Invoke-GuestFsApi hivex_node_get_child -nodeh 1 -name Software -Disk $disk }
            $e.FullyQualifiedErrorId | Should -BeLike 'ArgumentNameIsCommandParameter,*'
            $e.Exception.Message | Should -Match '-ArgName'
        }
    }

    Context 'parameters pwsh users type' {
        It 'Get-GuestContent -Tail returns the last lines' {
            Get-GuestContent /data/small/file07.txt -Tail 2 -Disk $disk | Should -Be @('line two of 7', 'line three of 7')
            Get-GuestContent /etc/app.conf -Last 1 -Disk $disk | Should -Be 'port=8080'
            Get-GuestContent /etc/app.conf -Tail 5 -Raw -Disk $disk | Should -BeExactly "name=app`nport=8080`n"
        }
        It 'Get-Content -Tail and Get-GuestContent -Tail take a GuestFs drive path (the cmdlet itself allows -Tail on FileSystem paths only)' {
            New-PSDrive -Name nu -PSProvider GuestFs -Root / -Disk $disk | Out-Null
            try {
                Get-GuestContent nu:/data/small/file07.txt -Tail 1 | Should -Be 'line three of 7'
                $copy = Join-Path $TestDrive 'file07.txt'
                Copy-GuestItem /data/small/file07.txt -Destination $copy -Disk $disk
                foreach ($n in 1, 2, 5) {
                    @(Get-Content nu:/data/small/file07.txt -Tail $n) | Should -Be @(Microsoft.PowerShell.Management\Get-Content $copy -Tail $n) -Because "-Tail $n"
                }
                @(Get-ChildItem nu:/etc/app.conf | Get-Content -Last 1) | Should -Be 'port=8080'
                # Without -Tail it is the cmdlet itself, on any drive.
                @(Get-Content nu:/etc/app.conf -TotalCount 1) | Should -Be 'name=app'
                (Get-Content nu:/etc/app.conf -Raw) | Should -BeExactly "name=app`nport=8080`n"
                @(Get-Content $copy -Tail 1) | Should -Be 'line three of 7'
            }
            finally { Remove-PSDrive nu }
        }
        It 'Get-ChildItem -File, -Directory, -Hidden and -Depth work on a GuestFs drive' {
            New-PSDrive -Name nd -PSProvider GuestFs -Root / -Disk $disk | Out-Null
            try {
                $files = @(Get-ChildItem nd:/data -File)
                $files.Count | Should -BeGreaterThan 0
                @($files | Where-Object IsDirectory).Count | Should -Be 0
                $files.Name | Should -Contain 'big.bin'
                $files.Name | Should -Not -Contain '.hidden'
                $dirs = @(Get-ChildItem nd:/data -Directory)
                @($dirs | Where-Object { -not $_.IsDirectory }).Count | Should -Be 0
                $dirs.Name | Should -Contain 'small'
                @(Get-ChildItem nd:/data -Hidden).Name | Should -Be '.hidden'
                @(Get-ChildItem nd:/data -Name -File) | Should -Contain 'big.bin'
                @(Get-ChildItem nd:/data/tree -Directory -Recurse -Depth 0).Count | Should -Be 20
            }
            finally { Remove-PSDrive nd }
        }
        It 'Set-GuestContent and Add-GuestContent -PassThru return what they wrote' {
            Set-GuestContent /pt.txt -Value 'one', 'two' -PassThru -Disk $disk | Should -Be @('one', 'two')
            Add-GuestContent /pt.txt -Value 'three' -PassThru -Disk $disk | Should -Be 'three'
            Get-GuestContent /pt.txt -Disk $disk | Should -Be @('one', 'two', 'three')
        }
        It 'Close-GuestDisk -WhatIf closes nothing' {
            Close-GuestDisk -Disk $disk -WhatIf
            $disk.State | Should -Be 'Ready'
            Test-GuestPath /etc -Disk $disk | Should -BeTrue
        }
    }

    Context 'searching file contents' {
        It 'Select-GuestString -Recurse finds what grep -rni finds in the same files copied out' {
            $copy = Join-Path $TestDrive 'copy'
            New-Item -ItemType Directory -Path $copy | Out-Null
            Copy-GuestItem /etc -Destination $copy -Recurse -Disk $disk
            Test-Path "$copy/etc/app.conf" | Should -BeTrue
            $expected = @(& grep -rniE 'PORT|^x=' "$copy/etc" | ForEach-Object { $_.Substring($copy.Length) } | Sort-Object)
            $LASTEXITCODE | Should -Be 0
            $expected.Count | Should -BeGreaterThan 1
            $found = @(Select-GuestString -Path /etc -Pattern 'PORT', '^x=' -Recurse -Disk $disk)
            @($found | ForEach-Object ToString | Sort-Object) | Should -Be $expected
            $m = $found | Where-Object Path -eq /etc/app.conf
            $m.LineNumber | Should -Be 2
            $m.Line | Should -BeExactly 'port=8080'
            $m.Filename | Should -Be 'app.conf'
        }
        It 'takes items from Get-GuestChildItem and -SimpleMatch -CaseSensitive as Select-String does' {
            @(Get-GuestChildItem /etc -Filter *.conf -Disk $disk | Select-GuestString -SimpleMatch 'name=' -CaseSensitive -Disk $disk).Count | Should -Be 1
            @(Get-GuestChildItem /etc -Filter *.conf -Disk $disk | Select-GuestString -SimpleMatch 'NAME=' -CaseSensitive -Disk $disk).Count | Should -Be 0
        }
        It 'a directory without -Recurse is a PathIsDirectory error that names -Recurse' {
            $e = ErrorOf { Select-GuestString x /etc -Disk $disk }
            $e.FullyQualifiedErrorId | Should -BeLike 'PathIsDirectory,*'
            $e.Exception.Message | Should -Match '-Recurse'
        }
    }

    Context 'Select-String and Get-FileHash on guest files, the way pwsh users try them' {
        BeforeAll {
            New-PSDrive -Name ss -PSProvider GuestFs -Root / -Disk $disk | Out-Null
            $script:hostEtc = Join-Path $TestDrive 'ss-copy'
            New-Item -ItemType Directory -Path $hostEtc | Out-Null
            Copy-GuestItem /etc -Destination $hostEtc -Recurse -Disk $disk
            $script:hostEtc = Join-Path $hostEtc 'etc'
            # What PowerShell's own Select-String finds in the same files copied out:
            # file name, line number, line and context, for comparison.
            function script:Shape($m) { '{0}|{1}|{2}|{3}|{4}' -f $m.Filename, $m.LineNumber, $m.Line, ($m.Context.PreContext -join '/'), ($m.Context.PostContext -join '/') }
            $script:expected = @(Microsoft.PowerShell.Utility\Select-String -Path "$hostEtc/*.conf" -Pattern 'PORT' -Context 1 | ForEach-Object { Shape $_ } | Sort-Object)
        }
        AfterAll { Remove-PSDrive ss -ErrorAction SilentlyContinue }

        It 'the module puts functions in front of the two cmdlets; the cmdlets stay reachable by their full names' {
            (Get-Command Select-String).Source | Should -Be 'GuestFs'
            (Get-Command Get-FileHash).Source | Should -Be 'GuestFs'
            (Get-Command Microsoft.PowerShell.Utility\Select-String).CommandType | Should -Be 'Cmdlet'
            $expected.Count | Should -BeGreaterThan 0 -Because 'the copied /etc has a *.conf line with port in it'
        }
        It 'Get-ChildItem vm:/etc/*.conf | Select-String searches the content, as for host files' {
            $found = @(Get-ChildItem ss:/etc/*.conf | Select-String -Pattern 'PORT' -Context 1)
            @($found | ForEach-Object { Shape $_ } | Sort-Object) | Should -Be $expected
            $found[0] | Should -BeOfType Microsoft.PowerShell.Commands.MatchInfo
            $found[0].Path | Should -BeLike 'ss:/etc/*.conf'
            # A word that is only inside a file, never in a name.
            @(Get-ChildItem ss:/etc/app.conf | Select-String '8080').Count | Should -Be 1
        }
        It 'Select-String -Path vm:/etc/*.conf reads the files instead of saying the provider cannot open them' {
            $found = @(Select-String -Path 'ss:/etc/*.conf' -Pattern 'PORT' -Context 1 -ErrorAction Stop)
            @($found | ForEach-Object { Shape $_ } | Sort-Object) | Should -Be $expected
            Select-String -Path 'ss:/etc/*.conf' -Pattern '8080' -Quiet | Should -BeTrue
            Select-String -Path 'ss:/etc/*.conf' -Pattern 'no such text anywhere' -Quiet | Should -BeFalse
        }
        It 'Get-GuestChildItem items search the guest file, and host paths in the same call still search the host' {
            @(Get-GuestChildItem /etc -Filter *.conf -Disk $disk | Select-String 'PORT' -Context 1 | ForEach-Object { Shape $_ } | Sort-Object) | Should -Be $expected
            $hostFile = Join-Path $TestDrive 'host.txt'
            Set-Content $hostFile "first`nport on the host"
            $mixed = @(Select-String -Path $hostFile, 'ss:/etc/app.conf' -Pattern 'port')
            $mixed[0].Path | Should -Be $hostFile
            $mixed[0].LineNumber | Should -Be 2
            $mixed[1].Path | Should -Be 'ss:/etc/app.conf'
            @('a', 'port b' | Select-String port).Count | Should -Be 1 -Because 'strings still go to the cmdlet'
            # A drive made in this (local) scope resolves too: the functions run in the caller's session state.
            New-PSDrive -Name sshost -PSProvider FileSystem -Root $TestDrive | Out-Null
            (Select-String -Path sshost:/host.txt -Pattern port).LineNumber | Should -Be 2
            (Get-FileHash sshost:/host.txt).Hash | Should -Be (Microsoft.PowerShell.Utility\Get-FileHash $hostFile).Hash
        }
        It 'Get-FileHash on a GuestFs drive path and on piped guest items gives the guest file''s hash' {
            $guest = (Get-FileHash -Path ss:/etc/app.conf -Algorithm SHA512).Hash
            $guest | Should -Be (Microsoft.PowerShell.Utility\Get-FileHash "$hostEtc/app.conf" -Algorithm SHA512).Hash
            (Get-ChildItem ss:/etc/app.conf | Get-FileHash -Algorithm MD5).Hash | Should -Be (Microsoft.PowerShell.Utility\Get-FileHash "$hostEtc/app.conf" -Algorithm MD5).Hash
            # /etc/hostname exists on the host too: the guest's file must be hashed, not the host's.
            $gh = (Get-GuestChildItem /etc/hostname -Disk $disk | Get-FileHash).Hash
            $gh | Should -Be (Get-GuestFileHash /etc/hostname -Disk $disk).Hash
            $gh | Should -Be (Microsoft.PowerShell.Utility\Get-FileHash "$hostEtc/hostname").Hash
            $h = Get-FileHash "$hostEtc/app.conf"
            $h | Should -BeOfType Microsoft.PowerShell.Commands.FileHashInfo
        }
    }

    Context 'objects that travel, views, progress' {
        It 'Get-GuestFileSystem converts to JSON without the session and shows sizes and free space' {
            $fs = Get-GuestFileSystem -Disk $disk
            $json = $fs | ConvertTo-Json -WarningVariable w -WarningAction SilentlyContinue
            @($w).Count | Should -Be 0
            $json | Should -Not -Match 'LaunchStages'
            @($json | ConvertFrom-Json)[0].Disk | Should -Be $disk.Id
            $text = $fs | Out-String
            $text | Should -Match '64 MB'
            $text | Should -Match 'Free'
            ($fs | Where-Object Device -eq /dev/sda1).FreeSpace | Should -BeGreaterThan 0
        }
        It 'Get-GuestFileSystem reuses the listing until something may have changed it' {
            function Verbose-Of([scriptblock] $c) { $VerbosePreference = 'Continue'; (@(& $c 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message) -join "`n" }
            # The test before listed them, and nothing has changed since.
            Verbose-Of { Get-GuestFileSystem -Disk $disk } | Should -Match 'reusing'
            Set-GuestContent /changed.txt -Value 'x' -Disk $disk
            Verbose-Of { Get-GuestFileSystem -Disk $disk } | Should -Not -Match 'reusing'
            Mount-GuestFs /dev/sdb -MountPoint /mnt -Disk $disk
            try { Verbose-Of { Get-GuestFileSystem -Disk $disk } | Should -Not -Match 'reusing' }
            finally { Dismount-GuestFs /mnt -Disk $disk }
        }
        It 'a call that takes more than 2 s shows a progress record with the elapsed time' {
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript("Import-Module '$((Get-Module GuestFs).Path)'; Invoke-GuestFsApi sleep 4 -Disk $($disk.Id)")
                $null = $ps.Invoke()
                @($ps.Streams.Error) | Should -BeNullOrEmpty
                $recs = @($ps.Streams.Progress | Where-Object ActivityId -eq 0x6f2)
                $recs.Count | Should -BeGreaterThan 0
                $recs[0].StatusDescription | Should -Match '\d+ s elapsed'
                $recs[-1].RecordType | Should -Be 'Completed'
            }
            finally { $ps.Dispose() }
        }
    }

    Context 'validate before touching the guest' {
        It 'New-GuestItem -Force -ItemType SymbolicLink without -Value keeps the existing file' {
            Set-GuestContent /keep.txt -Value 'precious' -Disk $disk
            $e = ErrorOf { New-GuestItem /keep.txt -ItemType SymbolicLink -Force -Disk $disk }
            $e.FullyQualifiedErrorId | Should -BeLike 'LinkTargetMissing,*'
            Get-GuestContent /keep.txt -Disk $disk | Should -Be 'precious'
        }
        It 'New-Item on a GuestFs drive follows the same rules (one implementation): no link target, no loss; -Force makes parents' {
            New-PSDrive -Name nv -PSProvider GuestFs -Root / -Disk $disk | Out-Null
            try {
                # PowerShell's New-Item refuses a link without -Value itself; either way the file stays.
                $e = ErrorOf { New-Item nv:/keep.txt -ItemType SymbolicLink -Force }
                $e.FullyQualifiedErrorId | Should -Match '^(LinkTargetMissing|ArgumentNull),'
                Get-GuestContent /keep.txt -Disk $disk | Should -Be 'precious'
                (New-Item nv:/made/deep/er.txt -ItemType File -Value 'x' -Force).FullName | Should -Be '/made/deep/er.txt'
                (New-GuestItem /made2/deep/er.txt -ItemType File -Value 'y' -Force -Disk $disk).FullName | Should -Be '/made2/deep/er.txt'
                $e = ErrorOf { New-Item nv:/made -ItemType File -Force }
                $e.FullyQualifiedErrorId | Should -BeLike 'ItemExists,*'
                $e.Exception.Message | Should -Match 'does not replace'
            }
            finally { Remove-PSDrive nv }
        }
    }
}
