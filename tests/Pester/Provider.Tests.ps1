# The GuestFs provider end to end: drives on a writable throw-away overlay of the
# cached base image (one launch), and a read-only drive that opens the base image
# itself (the second launch), which the closing tests then take apart.
Describe 'GuestFs provider' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:image = New-GuestFsTestOverlay -Directory $TestDrive
        $script:disk = Open-GuestDisk -Path $image -Writable
        Mount-GuestFs -Device /dev/sda1 -MountPoint / -PSDrive vm
        $script:startLocation = Get-Location

        # The errors of one command (non-terminating ones, or the terminating one), without failing the test.
        function Get-CommandError([scriptblock] $Command) {
            try { $out = & $Command 2>&1 }
            catch { return , @($_) }
            , @($out | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        }
    }
    AfterEach { Set-Location $script:startLocation }
    AfterAll {
        Set-Location $script:startLocation
        Get-PSDrive -PSProvider GuestFs -ErrorAction SilentlyContinue | Remove-PSDrive -Force -ErrorAction SilentlyContinue
        Close-GuestDisk -All
    }

    Context 'drives' {
        It 'Mount-GuestFs -PSDrive made a global drive rooted at the mount point' {
            $d = Get-PSDrive vm
            $d.Provider.Name | Should -Be 'GuestFs'
            $d.Root | Should -Be 'vm:/'
            $d.GuestRoot | Should -Be '/'
            $d.Disk.Id | Should -Be $disk.Id
            $d.OwnsDisk | Should -BeFalse
        }
        It 'New-PSDrive takes the only open disk when -Disk is left out, and a guest directory as root' {
            New-PSDrive -Name etc -PSProvider GuestFs -Root /etc -Scope Global | Out-Null
            (Get-PSDrive etc).Disk.Id | Should -Be $disk.Id
            (Get-ChildItem etc:/).Name | Should -Be @('app.conf', 'hostname', 'motd', 'other.conf')
            $h = Get-Item etc:/hostname
            $h.FullName | Should -Be '/etc/hostname'
            $h.PSPath | Should -Be 'GuestFs\GuestFs::etc:/hostname'
            Get-Content etc:/hostname | Should -Be 'testhost'
        }
        It 'New-PSDrive -Disk with a root that is not a directory is refused' {
            $err = Get-CommandError { New-PSDrive -Name bad -PSProvider GuestFs -Root /etc/hostname -Disk $disk -Scope Global }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'GuestFsRootNotFound,*'
            Get-PSDrive bad -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
    }

    Context 'navigation and listing' {
        It 'Set-Location into the drive, list, read relative paths and go back up' {
            Set-Location vm:/etc
            (Get-Location).Path | Should -Be 'vm:/etc'
            (Get-ChildItem).Name | Should -Be @('app.conf', 'hostname', 'motd', 'other.conf')
            Get-Content hostname | Should -Be 'testhost'
            Set-Location ../data/small
            (Get-Location).Path | Should -Be 'vm:/data/small'
            Set-Location ..
            (Get-Location).Path | Should -Be 'vm:/data'
            Set-Location linkdir
            (Get-ChildItem file01.txt).FullName | Should -Be '/data/linkdir/file01.txt'
        }
        It 'items are the objects Get-GuestChildItem emits, with the same default view' {
            $items = Get-ChildItem vm:/etc
            $items[0] | Should -BeOfType ([GuestFs.Engine.Library.GuestFileInfo])
            ($items | Out-String) | Should -Be (Get-GuestChildItem /etc | Out-String)
            ($items | Out-String) | Should -Match 'Directory: /etc'
        }
        It 'Get-Item carries the drive path, parent, name and container flag' {
            $i = Get-Item vm:/etc/hostname
            $i.PSPath | Should -Be 'GuestFs\GuestFs::vm:/etc/hostname'
            $i.PSParentPath | Should -Be 'GuestFs\GuestFs::vm:/etc'
            $i.PSChildName | Should -Be 'hostname'
            $i.PSIsContainer | Should -BeFalse
            $i.PSDrive.Name | Should -Be 'vm'
            $i.Length | Should -Be 9
            (Get-Item vm:/data).PSIsContainer | Should -BeTrue
        }
        It 'Test-Path tells files, directories and links to directories apart' {
            Test-Path vm:/etc/hostname | Should -BeTrue
            Test-Path vm:/etc/nope | Should -BeFalse
            Test-Path vm:/etc -PathType Container | Should -BeTrue
            Test-Path vm:/etc/hostname -PathType Leaf | Should -BeTrue
            Test-Path vm:/etc/hostname -PathType Container | Should -BeFalse
            Test-Path vm:/data/linkdir -PathType Container | Should -BeTrue
        }
        It 'hides dot files unless -Force, and filters with -Filter, -Include and -Exclude' {
            (Get-ChildItem vm:/data).Name | Should -Not -Contain '.hidden'
            (Get-ChildItem vm:/data -Force).Name | Should -Contain '.hidden'
            (Get-ChildItem vm:/etc -Filter *.conf).Name | Should -Be @('app.conf', 'other.conf')
            (Get-ChildItem vm:/etc/* -Include a*, m*).Name | Should -Be @('app.conf', 'motd')
            (Get-ChildItem vm:/etc/* -Exclude *.conf).Name | Should -Be @('hostname', 'motd')
            Get-ChildItem vm:/data -Name | Should -Contain 'big.bin'
        }
        It 'a listing is a few batched calls, not one round trip per item' {
            Get-ChildItem vm:/ | Out-Null
            $before = $disk.CallCount
            $items = Get-ChildItem vm:/data/small
            $items.Count | Should -Be 50
            ($disk.CallCount - $before) | Should -BeLessOrEqual 4
        }
        It '-Recurse reads a tree of 2,000 entries in calls per directory, not per entry; -Depth limits it' {
            $before = $disk.CallCount
            $all = Get-ChildItem vm:/data/tree -Recurse
            $all.Count | Should -Be (20 + 20 * 99)
            # 21 directories: a readdir and an lstatnslist each (pipelined), not a call per entry.
            ($disk.CallCount - $before) | Should -BeLessOrEqual (2 * 21 + 2)
            (Get-ChildItem vm:/data/tree -Depth 0).Count | Should -Be 20
            (Get-ChildItem vm:/data/tree -Depth 1).Count | Should -Be 2000
        }
        It 'a missing path is an ObjectNotFound error' {
            $err = Get-CommandError { Get-ChildItem vm:/nope }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'PathNotFound,*'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }
    }

    Context 'wildcards' {
        It 'Resolve-Path expands a pattern with one listing' {
            Get-Item vm:/data | Out-Null
            $before = $disk.CallCount
            $r = Resolve-Path vm:/data/small/file0*.txt
            $r.Path | Should -Be @(1..9 | ForEach-Object { 'vm:/data/small/file{0:d2}.txt' -f $_ })
            ($disk.CallCount - $before) | Should -BeLessOrEqual 4
        }
        It 'expands patterns in several segments and in the cmdlets' {
            (Get-Item vm:/e*/host*).FullName | Should -Be '/etc/hostname'
            (Get-ChildItem vm:/data/small/file4?.txt).Count | Should -Be 10
            (Get-Content vm:/etc/*.conf) | Should -Be @('name=app', 'port=8080', 'x=1')
            Test-Path vm:/etc/*.conf | Should -BeTrue
            Test-Path vm:/etc/*.nope | Should -BeFalse
        }
        It 'Resolve-Path -Relative works from a location in the drive' {
            Set-Location vm:/etc
            Resolve-Path hostname -Relative | Should -Be './hostname'
            Resolve-Path ../data/small -Relative | Should -Be '../data/small'
        }
    }

    Context 'tab completion' {
        It 'completes drive paths (<Line>)' -ForEach @(
            @{ Line = 'Get-ChildItem vm:/et'; Text = 'vm:/etc'; Type = 'ProviderContainer' }
            @{ Line = 'Get-Content vm:/etc/ho'; Text = 'vm:/etc/hostname'; Type = 'ProviderItem' }
            @{ Line = 'Set-Location vm:/da'; Text = 'vm:/data'; Type = 'ProviderContainer' }
            @{ Line = 'Get-GuestContent vm:/etc/ho'; Text = 'vm:/etc/hostname'; Type = 'ProviderItem' }
        ) {
            $m = (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
            $m.CompletionText | Should -Contain $Text
            ($m | Where-Object CompletionText -eq $Text).ResultType | Should -Be $Type
        }
        It 'completes relative paths inside the drive' {
            Set-Location vm:/
            $m = (TabExpansion2 -inputScript 'Get-Content ./etc/ho' -cursorColumn 20).CompletionMatches
            $m.CompletionText | Should -Be './etc/hostname'
        }
    }

    Context 'content' {
        It 'reads lines, raw text, a line count and bytes' {
            Get-Content vm:/etc/app.conf | Should -Be @('name=app', 'port=8080')
            Get-Content vm:/etc/app.conf -Raw | Should -BeExactly "name=app`nport=8080`n"
            Get-Content vm:/etc/app.conf -TotalCount 1 | Should -Be 'name=app'
            $bytes = Get-Content vm:/data/binary.bin -AsByteStream -Raw
            [Convert]::ToHexString($bytes) | Should -Be ([Convert]::ToHexString([byte[]](0..255)))
            (Get-Content vm:/data/binary.bin -AsByteStream -TotalCount 3) | Should -Be @(0, 1, 2)
        }
        It 'honours byte-order marks and -Encoding' {
            Get-Content vm:/data/utf16.txt | Should -Be @('wide ✓', 'second')
            Get-Content vm:/data/utf8bom.txt | Should -Be 'bom'
            Set-Content vm:/latin.txt -Value 'é' -Encoding latin1 -NoNewline
            (Get-Content vm:/latin.txt -AsByteStream -Raw) | Should -Be @(0xE9)
            Get-Content vm:/latin.txt -Encoding latin1 | Should -Be 'é'
        }
        It 'reads only the beginning of a large file for -TotalCount' {
            Set-GuestContent /biglines.txt -Value ((1..400000).ForEach({ "line $_" }))
            (Get-GuestItem /biglines.txt).Length | Should -BeGreaterThan 4MB
            $before = $disk.CallCount
            Get-Content vm:/biglines.txt -TotalCount 2 | Should -Be @('line 1', 'line 2')
            ($disk.CallCount - $before) | Should -BeLessOrEqual 3
        }
        It 'Set-Content, Add-Content and Clear-Content change files, also from the pipeline' {
            Set-Content vm:/etc/motd -Value 'one', 'two'
            Get-Content vm:/etc/motd | Should -Be @('one', 'two')
            'three' | Add-Content vm:/etc/motd
            Get-Content vm:/etc/motd | Should -Be @('one', 'two', 'three')
            'a', 'b' | Set-Content vm:/new.txt
            Get-Content vm:/new.txt -Raw | Should -BeExactly "a`nb`n"
            Set-Content vm:/nonl.txt -Value 'abc' -NoNewline
            (Get-Item vm:/nonl.txt).Length | Should -Be 3
            Clear-Content vm:/nonl.txt
            (Get-Item vm:/nonl.txt).Length | Should -Be 0
        }
        It 'round-trips bytes larger than the 2 MiB inline limit' {
            $big = [byte[]]::new(3MB); [Random]::new(9).NextBytes($big)
            Set-Content vm:/big3.bin -Value $big -AsByteStream
            $back = Get-Content vm:/big3.bin -AsByteStream -Raw
            $back.Length | Should -Be 3MB
            [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($back)) | Should -Be ([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($big)))
        }
        It 'a directory has no content' {
            $err = Get-CommandError { Get-Content vm:/etc }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'ItemIsDirectory,*'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidType'
        }
    }

    Context 'changing items' {
        It 'New-Item creates files, directories with parents, and links; refuses to replace without -Force' {
            (New-Item vm:/made/a/b -ItemType Directory).ItemType | Should -Be 'Directory'
            $f = New-Item vm:/made/file.txt -Value 'hi'
            $f.Length | Should -Be 2
            $f.PSPath | Should -Be 'GuestFs\GuestFs::vm:/made/file.txt'
            (New-Item vm:/made/ln -ItemType SymbolicLink -Value file.txt).Target | Should -Be 'file.txt'
            $err = Get-CommandError { New-Item vm:/made/file.txt -Value 'again' }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'ItemExists,*'
            $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
            New-Item vm:/made/file.txt -Value 'again' -Force | Out-Null
            Get-Content vm:/made/file.txt -Raw | Should -Be 'again'
            (New-Item vm:/made/a -ItemType Directory -Force).FullName | Should -Be '/made/a'
        }
        It 'Rename-Item renames within the directory and refuses to overwrite' {
            Rename-Item vm:/made/file.txt renamed.txt
            Test-Path vm:/made/renamed.txt | Should -BeTrue
            Test-Path vm:/made/file.txt | Should -BeFalse
            New-Item vm:/made/other.txt -Value 'o' | Out-Null
            $err = Get-CommandError { Rename-Item vm:/made/other.txt renamed.txt }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'DestinationExists,*'
            (Rename-Item vm:/made/other.txt other2.txt -PassThru).FullName | Should -Be '/made/other2.txt'
        }
        It 'Move-Item moves into a directory and to a new name' {
            Move-Item vm:/made/renamed.txt vm:/made/a
            Test-Path vm:/made/a/renamed.txt | Should -BeTrue
            (Move-Item vm:/made/a/renamed.txt vm:/moved.txt -PassThru).FullName | Should -Be '/moved.txt'
            Get-Content vm:/moved.txt -Raw | Should -Be 'again'
        }
        It 'Copy-Item copies files, directories (empty without -Recurse) and trees' {
            (Copy-Item vm:/etc/hostname vm:/made -PassThru).FullName | Should -Be '/made/hostname'
            Get-Content vm:/made/hostname | Should -Be 'testhost'
            Copy-Item vm:/data/small vm:/small-empty
            (Get-ChildItem vm:/small-empty).Count | Should -Be 0
            Copy-Item vm:/data/small vm:/small-copy -Recurse
            (Get-ChildItem vm:/small-copy).Count | Should -Be 50
            Get-Content vm:/small-copy/file07.txt | Should -Contain 'line two of 7'
            New-Item vm:/into -ItemType Directory | Out-Null
            Copy-Item vm:/data/small vm:/into -Recurse
            Copy-Item vm:/data/small vm:/into -Recurse
            (Get-ChildItem vm:/into/small).Count | Should -Be 50 -Because 'copying a tree again onto its copy merges instead of nesting'
        }
        It 'Remove-Item removes files, trees with -Recurse, wildcard matches and piped items' {
            Remove-Item vm:/moved.txt
            Test-Path vm:/moved.txt | Should -BeFalse
            Remove-Item vm:/made -Recurse
            Test-Path vm:/made | Should -BeFalse
            Remove-Item vm:/small-copy/file1*.txt
            (Get-ChildItem vm:/small-copy).Count | Should -Be 40
            Get-ChildItem vm:/small-copy -Filter 'file2*' | Remove-Item
            (Get-ChildItem vm:/small-copy).Count | Should -Be 30
        }
        It 'refuses to remove the guest root' {
            $err = Get-CommandError { Remove-Item vm:/ -Recurse -Force }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'RemoveRootRefused,*'
            Test-Path vm:/etc | Should -BeTrue
        }
    }

    Context '-WhatIf' {
        It 'no verb changes anything under -WhatIf' {
            $before = Get-ChildItem vm:/etc -Force | ForEach-Object { "$($_.Name) $($_.Length) $($_.LastWriteTime.Ticks)" }
            Remove-Item vm:/etc/hostname -WhatIf
            New-Item vm:/etc/whatif.txt -Value 'x' -WhatIf
            Set-Content vm:/etc/hostname -Value 'changed' -WhatIf
            Add-Content vm:/etc/hostname -Value 'changed' -WhatIf
            Clear-Content vm:/etc/hostname -WhatIf
            Rename-Item vm:/etc/motd motd2 -WhatIf
            Move-Item vm:/etc/motd vm:/data -WhatIf
            Copy-Item vm:/etc/motd vm:/etc/motd3 -WhatIf
            Copy-Item vm:/etc vm:/etc2 -Recurse -WhatIf
            $after = Get-ChildItem vm:/etc -Force | ForEach-Object { "$($_.Name) $($_.Length) $($_.LastWriteTime.Ticks)" }
            $after | Should -Be $before
            Test-Path vm:/etc2 | Should -BeFalse
            Get-Content vm:/etc/hostname | Should -Be 'testhost'
        }
    }

    Context 'GuestFs cmdlets with drive paths' {
        It 'read and test drive paths without -Disk' {
            Get-GuestContent vm:/etc/hostname | Should -Be 'testhost'
            (Get-GuestChildItem etc:/ -Filter *.conf).FullName | Should -Be @('/etc/app.conf', '/etc/other.conf')
            Test-GuestPath etc:/motd | Should -BeTrue
            (Get-GuestItem vm:/e*/host*).FullName | Should -Be '/etc/hostname'
        }
        It 'write drive paths and take relative paths from the current location' {
            Set-GuestContent etc:/fromcmdlet.txt -Value 'c'
            Get-Content vm:/etc/fromcmdlet.txt | Should -Be 'c'
            Set-Location vm:/etc
            Get-GuestContent fromcmdlet.txt | Should -Be 'c'
            Remove-GuestItem fromcmdlet.txt
            Test-Path vm:/etc/fromcmdlet.txt | Should -BeFalse
        }
        It 'Copy-GuestItem copies between the host and a drive in one command' {
            $out = Join-Path $TestDrive 'out'
            New-Item -ItemType Directory $out | Out-Null
            Copy-GuestItem vm:/etc/hostname -Destination $out
            Get-Content (Join-Path $out hostname) | Should -Be 'testhost'
            $f = Join-Path $TestDrive 'host.txt'; Set-Content $f 'from host'
            (Copy-GuestItem -LocalPath $f -Destination vm:/data -PassThru).FullName | Should -Be '/data/host.txt'
            Get-Content vm:/data/host.txt | Should -Be 'from host'
            Copy-GuestItem -LocalPath $f -Destination etc:/ | Out-Null
            Get-Content vm:/etc/host.txt | Should -Be 'from host'
        }
        It 'drive items piped into Copy-GuestItem go to the host; "." in a drive means the drive' {
            $confs = Join-Path $TestDrive 'confs'
            New-Item -ItemType Directory $confs | Out-Null
            Get-ChildItem vm:/etc -Filter *.conf | Copy-GuestItem -Destination $confs
            (Get-ChildItem $confs).Name | Should -Be @('app.conf', 'other.conf')
            Set-Location vm:/data
            Copy-GuestItem vm:/etc/motd -Destination .
            Test-Path vm:/data/motd | Should -BeTrue
        }
    }

    Context 'a drive that opens its own, read-only disk' {
        BeforeAll {
            New-PSDrive -Name ro -PSProvider GuestFs -Root / -ImagePath (Get-GuestFsBaseImage) -Scope Global | Out-Null
            $script:ro = (Get-PSDrive ro).Disk
        }
        It 'the drive owns a read-only disk that Get-GuestDisk lists' {
            (Get-PSDrive ro).OwnsDisk | Should -BeTrue
            $ro.ReadOnly | Should -BeTrue
            $ro.Label | Should -Be 'PSDrive ro'
            (Get-GuestDisk).Id | Should -Contain $ro.Id
            Get-Content ro:/etc/hostname | Should -Be 'testhost'
        }
        It 'New-PSDrive -Root / names the guest root even while the location is on another disk''s drive' {
            # PowerShell resolves -Root against the current location first ("/" becomes "vm:/").
            Set-Location vm:/etc
            New-PSDrive -Name ro2 -PSProvider GuestFs -Root / -Disk $ro -Scope Global | Out-Null
            (Get-PSDrive ro2).Disk.Id | Should -Be $ro.Id
            (Get-PSDrive ro2).GuestRoot | Should -Be '/'
            Remove-PSDrive ro2
            New-PSDrive -Name here -PSProvider GuestFs -Root ../data -Scope Global -Disk $disk | Out-Null
            (Get-PSDrive here).GuestRoot | Should -Be '/data'
            Remove-PSDrive here
        }
        It 'with two disks open, New-PSDrive needs -Disk' {
            $err = Get-CommandError { New-PSDrive -Name amb -PSProvider GuestFs -Root / -Scope Global }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'AmbiguousGuestDisk,*'
        }
        It '<Verb> is refused with the cmdlets'' read-only error' -ForEach @(
            @{ Verb = 'Set-Content'; Command = { Set-Content ro:/etc/motd 'x' } }
            @{ Verb = 'Add-Content'; Command = { Add-Content ro:/etc/motd 'x' } }
            @{ Verb = 'Clear-Content'; Command = { Clear-Content ro:/etc/motd } }
            @{ Verb = 'New-Item'; Command = { New-Item ro:/etc/new -Value 'x' } }
            @{ Verb = 'Remove-Item'; Command = { Remove-Item ro:/etc/motd } }
            @{ Verb = 'Rename-Item'; Command = { Rename-Item ro:/etc/motd motd2 } }
            @{ Verb = 'Move-Item'; Command = { Move-Item ro:/etc/motd ro:/data } }
            @{ Verb = 'Copy-Item'; Command = { Copy-Item ro:/etc/motd ro:/data } }
            @{ Verb = 'Set-GuestContent'; Command = { Set-GuestContent ro:/etc/motd 'x' } }
        ) {
            $err = Get-CommandError $Command
            $err[0].FullyQualifiedErrorId | Should -BeLike 'GuestDiskReadOnly,*'
            $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
            $err[0].Exception.Message | Should -Match 'Open-GuestDisk -Writable'
            Get-Content ro:/etc/motd | Should -Be 'Welcome'
            Test-Path ro:/data/motd | Should -BeFalse
        }
        It '-WhatIf on a read-only drive only says what it would do' {
            $err = Get-CommandError { Remove-Item ro:/etc/motd -WhatIf }
            $err | Where-Object { $_ } | Should -BeNullOrEmpty
            Test-Path ro:/etc/motd | Should -BeTrue
        }
        It 'copying or moving between drives on different disks is refused clearly' {
            (Get-CommandError { Copy-Item ro:/etc/motd vm:/ })[0].FullyQualifiedErrorId | Should -BeLike 'CrossDiskCopyNotSupported,*'
            (Get-CommandError { Move-Item vm:/etc/motd ro:/ })[0].FullyQualifiedErrorId | Should -BeLike 'CrossDiskMoveNotSupported,*'
            (Get-CommandError { Get-GuestContent ro:/etc/motd -Disk $disk })[0].FullyQualifiedErrorId | Should -BeLike 'DiskDoesNotMatchDrive,*'
        }
    }

    Context 'removing drives and closing disks' {
        It 'Remove-PSDrive of a drive made on an open disk leaves the disk open' {
            New-PSDrive -Name tmp -PSProvider GuestFs -Root / -Disk $disk -Scope Global | Out-Null
            Remove-PSDrive tmp
            $disk.State | Should -Be 'Ready'
            Get-Content vm:/etc/hostname | Should -Be 'testhost'
        }
        It 'Remove-PSDrive of a drive that opened its disk closes it: no qemu is left' {
            New-PSDrive -Name left -PSProvider GuestFs -Root /etc -Disk $ro -Scope Global | Out-Null
            $qemu = $ro.ProcessId
            $qemu | Should -Not -BeNullOrEmpty
            Remove-PSDrive ro
            $ro.State | Should -Be 'Closed'
            (Get-GuestDisk).Id | Should -Not -Contain $ro.Id
            Get-QemuProcessIds | Should -Not -Contain $qemu
        }
        It 'a drive whose disk was closed says so and what to do' {
            $err = Get-CommandError { Get-ChildItem left:/ }
            $err[0].FullyQualifiedErrorId | Should -BeLike 'GuestDiskClosed,*'
            $err[0].Exception.Message | Should -Match "drive 'left'"
            $err[0].Exception.Message | Should -Match 'closed'
            $err[0].Exception.Message | Should -Match 'Remove-PSDrive left'
            (Get-CommandError { Test-Path left:/hostname })[0].FullyQualifiedErrorId | Should -BeLike 'GuestDiskClosed,*'
            (Get-CommandError { Get-Content left:/hostname })[0].FullyQualifiedErrorId | Should -BeLike 'GuestDiskClosed,*'
            (Get-CommandError { Get-GuestContent left:/hostname })[0].FullyQualifiedErrorId | Should -BeLike 'GuestDiskClosed,*'
            Remove-PSDrive left
            Get-PSDrive left -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
        It 'Close-GuestDisk removes the disk''s drives, leaves the location on them, and stops qemu' {
            Set-Location vm:/etc
            $qemu = $disk.ProcessId
            Close-GuestDisk -Disk $disk
            Get-PSDrive -PSProvider GuestFs | Should -BeNullOrEmpty
            (Get-Location).Provider.Name | Should -Be 'FileSystem'
            Get-QemuProcessIds | Should -Not -Contain $qemu
        }
    }
}
