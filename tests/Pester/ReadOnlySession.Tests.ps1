# Everything that reads: one read-only session on the cached base image (one launch).
Describe 'Reading a guest (read-only session)' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:disk = Open-GuestDisk -Path (Get-GuestFsBaseImage)
        Get-GuestFileSystem | Where-Object Type -eq ext4 | Mount-GuestFs -MountPoint /
    }
    AfterAll { Close-GuestDisk -All }

    Context 'filesystems and mounts' {
        It 'Get-GuestFileSystem pipes into Mount-GuestFs (done in BeforeAll) and Get-GuestMount shows it' {
            $m = Get-GuestMount
            $m.Device | Should -Be '/dev/sda1'
            $m.MountPoint | Should -Be '/'
        }
        It 'reports label, uuid and size' {
            $fs = Get-GuestFileSystem
            $fs.Label | Should -Be 'gfsbase'
            $fs.Uuid | Should -Match '^[0-9a-f-]{36}$'
            $fs.Size | Should -BeGreaterThan 1000MB
        }
        It 'a device that does not exist fails with a message naming it' {
            Mount-GuestFs -Device /dev/sdz9 -MountPoint /mnt -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'MountFailed,GuestFs.PowerShell.Commands.MountGuestFsCommand'
            $err[0].TargetObject | Should -Be '/dev/sdz9'
        }
    }

    Context 'listing' {
        It 'lists a directory with ls -l data' {
            $items = Get-GuestChildItem /etc
            $items.Name | Should -Be @('app.conf', 'hostname', 'motd', 'other.conf')
            $h = $items | Where-Object Name -eq hostname
            $h.Length | Should -Be 9
            $h.Mode | Should -Match '^-rw.r..r..$'
            $h.ItemType | Should -Be 'File'
            $h.FullName | Should -Be '/etc/hostname'
            $h.LastWriteTime | Should -BeOfType [datetime]
        }
        It 'lists the directory a symbolic link points to' {
            (Get-GuestChildItem /data/linkdir).Name | Should -Contain 'file01.txt'
        }
        It 'shows link targets' {
            $l = Get-GuestChildItem /data/links
            ($l | Where-Object Name -eq rel).Target | Should -Be '../small/file01.txt'
            ($l | Where-Object Name -eq abs).ItemType | Should -Be 'SymbolicLink'
            ($l | Where-Object Name -eq abs).Mode | Should -BeLike 'l*'
        }
        It 'hides dot files unless -Force' {
            (Get-GuestChildItem /data).Name | Should -Not -Contain '.hidden'
            (Get-GuestChildItem /data -Force).Name | Should -Contain '.hidden'
        }
        It 'filters with -Filter, -Include, -Exclude, -File and -Directory' {
            (Get-GuestChildItem /etc -Filter *.conf).Name | Should -Be @('app.conf', 'other.conf')
            (Get-GuestChildItem /etc -Include a* , m*).Name | Should -Be @('app.conf', 'motd')
            (Get-GuestChildItem /etc -Exclude *.conf).Name | Should -Be @('hostname', 'motd')
            (Get-GuestChildItem /data -Directory).Name | Should -Be @('links', 'small', 'tree')
            (Get-GuestChildItem /data -Directory -Force).Name | Should -Not -Contain 'linkdir'
            (Get-GuestChildItem /data -File).Name | Should -Contain 'big.bin'
        }
        It 'expands wildcards in the path' {
            (Get-GuestChildItem /data/small/file0*.txt).Name | Should -Be @(1..9 | ForEach-Object { 'file{0:d2}.txt' -f $_ })
            (Get-GuestItem /e*/host*).FullName | Should -Be '/etc/hostname'
        }
        It 'a recursive listing of 2,000 entries takes calls per directory, not per entry' {
            $before = $disk.CallCount
            $all = Get-GuestChildItem /data/tree -Recurse
            $calls = $disk.CallCount - $before
            $all.Count | Should -Be (20 + 20 * 99)
            ($all | Where-Object ItemType -eq File).Count | Should -Be 1980
            $calls | Should -BeLessOrEqual (2 * 21 + 2) -Because 'a readdir and an lstatnslist per directory (21), pipelined'
        }
        It 'a recursive listing has what the daemon''s find0 lists, each with lstatns''s data and readlink''s target' {
            $before = $disk.CallCount
            $all = @(Get-GuestChildItem / -Recurse -Force)
            $calls = $disk.CallCount - $before
            $dirs = @($all | Where-Object ItemType -eq Directory).Count + 1
            $calls | Should -BeLessOrEqual (3 * $dirs) -Because 'a readdir, an lstatnslist and a readlinklist per directory at most'
            $names = @(Invoke-GuestFsApi find -Arguments @{ directory = '/' } -ErrorAction Stop | ForEach-Object { "/$_" })
            $names.Count | Should -BeGreaterThan 1000
            [string[]] $got = $all.FullName; [Array]::Sort($got, [StringComparer]::Ordinal)
            [string[]] $want = $names; [Array]::Sort($want, [StringComparer]::Ordinal)
            $got | Should -Be $want -Because 'the same entries'
            foreach ($i in $all) {
                $st = Invoke-GuestFsApi lstatns -Arguments @{ path = $i.FullName } -ErrorAction Stop
                "$($i.FullName) $($i.Inode) $($i.UnixMode) $($i.Length) $($i.LinkCount)" | Should -Be "$($i.FullName) $($st.StIno) $($st.StMode) $($st.StSize) $($st.StNlink)"
                if ($i.ItemType -eq 'SymbolicLink') { $i.Target | Should -Be (Invoke-GuestFsApi readlink -Arguments @{ path = $i.FullName } -ErrorAction Stop) }
                else { $i.Target | Should -BeNullOrEmpty }
            }
            [string[]] $one = @(Get-GuestChildItem /data -Depth 1 -Force).FullName; [Array]::Sort($one, [StringComparer]::Ordinal)
            $one | Should -Be @($want | Where-Object { $_ -like '/data/*' -and ($_ -split '/').Count -le 4 })
        }
        It '-Depth limits the recursion' {
            (Get-GuestChildItem /data -Depth 0 -Force).Count | Should -Be (Get-GuestChildItem /data -Force).Count
            $one = Get-GuestChildItem /data/tree -Depth 1
            $one.Count | Should -Be 2000
        }
        It 'a missing path is a non-terminating ObjectNotFound error and the rest continues' {
            $r = Get-GuestChildItem /nope, /etc -ErrorVariable err -ErrorAction SilentlyContinue
            $r.Name | Should -Contain 'hostname'
            $err[0].FullyQualifiedErrorId | Should -Be 'PathNotFound,GuestFs.PowerShell.Commands.GetGuestChildItemCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].TargetObject | Should -Be '/nope'
        }
        It 'handles non-ASCII and space names' {
            $n = (Get-GuestChildItem /data -File).Name
            $n | Should -Contain 'ünïcödé näme.txt'
            $n | Should -Contain 'space name.txt'
            Get-GuestContent -LiteralPath '/data/ünïcödé näme.txt' | Should -Be 'grüße'
        }
    }

    Context 'any daemon call by name' {
        It 'calls with a hashtable and with parameters named after the arguments' {
            Invoke-GuestFsApi list_devices | Should -Be @('/dev/sda')
            Invoke-GuestFsApi vfs_label -Arguments @{ mountable = '/dev/sda1' } | Should -Be 'gfsbase'
            Invoke-GuestFsApi vfs_type -mountable /dev/sda1 | Should -Be 'ext4'
            (Invoke-GuestFsApi statns -path /etc/hostname).StSize | Should -Be 9
            (Invoke-GuestFsApi is_dir /etc) | Should -BeTrue
        }
        It 'returns hashtables as ordered dictionaries' {
            (Invoke-GuestFsApi list_filesystems)['/dev/sda1'] | Should -Be 'ext4'
        }
        It 'downloads a FileOut argument to a host path through a temporary name' {
            Invoke-GuestFsApi download -remotefilename /etc/hostname -filename "$TestDrive/hn.txt"
            Get-Content "$TestDrive/hn.txt" | Should -Be 'testhost'
        }
        It 'refuses unknown calls, unknown and missing arguments with clear errors' {
            { Invoke-GuestFsApi lstat_ns } | Should -Throw -ErrorId 'UnknownProcedure,GuestFs.PowerShell.Commands.InvokeGuestFsApiCommand'
            Invoke-GuestFsApi mount -Arguments @{ mountable = '/dev/sda1' } -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'InvalidApiArgument,GuestFs.PowerShell.Commands.InvokeGuestFsApiCommand'
            $err[0].Exception.Message | Should -Match "needs the argument 'mountpoint'"
            Invoke-GuestFsApi is_dir -Arguments @{ path = '/etc'; followsymlinks = 'yes' } -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].Exception.Message | Should -Match 'must be a boolean'
        }
        It 'keeps the daemon''s errno as the error category' {
            Invoke-GuestFsApi statns -path /nope -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].Exception.ErrnoName | Should -Be 'ENOENT'
        }
        It 'completes procedure names and their argument names' {
            $line = 'Invoke-GuestFsApi vfs_la'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'vfs_label'
            $line = 'Invoke-GuestFsApi mkfs -fs'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain '-fstype'
        }
        It 'Get-GuestFsApi describes calls' {
            $m = Get-GuestFsApi mkfs
            $m.Number | Should -Be 278
            $m.OptionalArguments.Name | Should -Contain 'label'
            (Get-GuestFsApi internal_*).Count | Should -Be 0
            (Get-GuestFsApi internal_* -IncludeInternal).Count | Should -BeGreaterThan 10
            (Get-GuestFsApi -Deprecated).Count | Should -BeGreaterThan 40
            (Get-GuestFsApi).Count | Should -BeGreaterThan 400
        }
        It 'reaches the library-side calls by name, with host paths resolved like FileSystem paths' {
            $lib = Get-GuestFsApi -Side library
            $lib.Name | Should -Contain 'copy_out'
            $lib | ForEach-Object { $_.Number | Should -Be 0 }
            (Get-GuestFsApi cat).Side | Should -Be 'library'
            Invoke-GuestFsApi cat /etc/hostname | Should -Be "testhost`n"
            Invoke-GuestFsApi canonical_device_name /dev/vda1 | Should -Be '/dev/sda1'
            Invoke-GuestFsApi disk_format -filename (Get-GuestFsBaseImage) | Should -Be 'raw'
            Invoke-GuestFsApi disk_virtual_size -filename (Get-GuestFsBaseImage) | Should -Be (Get-Item (Get-GuestFsBaseImage)).Length
            Push-Location $TestDrive
            try {
                New-Item -ItemType Directory -Path out | Out-Null
                Invoke-GuestFsApi copy_out -remotepath /data/small -localdir out
                (Get-ChildItem out/small).Count | Should -Be (Get-GuestChildItem /data/small).Count
            }
            finally { Pop-Location }
            $line = 'Invoke-GuestFsApi canonical_dev'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'canonical_device_name'
        }
    }

    Context 'tab completion' {
        It 'completes guest paths from the open session' {
            $line = 'Get-GuestChildItem /da'
            $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $r.CompletionMatches.CompletionText | Should -Contain '/data/'
            $line = 'Get-GuestContent /etc/ho'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('/etc/hostname')
        }
        It 'quotes completions that contain spaces' {
            $line = 'Get-GuestItem /data/spa'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @("'/data/space name.txt'")
        }
        It 'completes devices for Mount-GuestFs' {
            $line = 'Mount-GuestFs -Device /dev/s'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain '/dev/sda1'
        }
        It 'completes -Encoding names' {
            $line = 'Get-GuestContent /etc/motd -Encoding utf'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'utf8NoBOM'
        }
    }

    Context 'Test-GuestPath and Get-GuestItem' {
        It 'tests existence and type' {
            Test-GuestPath /etc/hostname | Should -BeTrue
            Test-GuestPath /etc/nope | Should -BeFalse
            Test-GuestPath /etc -PathType Container | Should -BeTrue
            Test-GuestPath /etc -PathType Leaf | Should -BeFalse
            Test-GuestPath /data/small/*.txt | Should -BeTrue
        }
        It 'checks many paths in pipelined batches, each answer as the daemon gives it one call at a time' {
            $all = @(Get-GuestChildItem / -Recurse | ForEach-Object FullName)
            $paths = @('/') + $all + @($all | Select-Object -First 150 | ForEach-Object { "$_/nope" }) + @(1..100 | ForEach-Object { "/missing$_/x" })
            $paths.Count | Should -BeGreaterThan 1000
            $expectAny = foreach ($p in $paths) { $null -ne (Invoke-GuestFsApi lstatns -Arguments @{ path = $p } -ErrorAction SilentlyContinue) }
            $expectDir = foreach ($p in $paths) {
                $st = Invoke-GuestFsApi lstatns -Arguments @{ path = $p } -ErrorAction SilentlyContinue
                $null -ne $st -and ($st.StMode -band 0xF000) -eq 0x4000
            }
            $before = $disk.CallCount
            $any = @(Test-GuestPath -LiteralPath $paths)
            $calls = $disk.CallCount - $before
            $any | Should -Be @($expectAny)
            # One lstatnslist per directory per batch of 1,024 paths: here about 280 calls.
            $calls | Should -BeGreaterThan 0
            $calls | Should -BeLessThan ($paths.Count / 5) -Because 'the paths are asked for per directory, not one call each'
            @($paths | Test-GuestPath -PathType Container) | Should -Be @($expectDir)
        }
        It 'gets many items in one batch, each as the directory listing shows it (links with their targets); a missing path is its own error' {
            $listed = @(Get-GuestChildItem / -Recurse)
            $listed.Count | Should -BeGreaterThan 1000
            $before = $disk.CallCount
            $items = @(Get-GuestItem -LiteralPath ($listed.FullName + '/data/nope') -ErrorVariable missing -ErrorAction SilentlyContinue)
            ($disk.CallCount - $before) | Should -BeLessThan ($listed.Count / 3)
            $items.Count | Should -Be $listed.Count
            $missing.Count | Should -Be 1
            $missing[0].FullyQualifiedErrorId | Should -BeLike 'PathNotFound,*'
            $shape = { $_.FullName, $_.ItemType, $_.Length, $_.Inode, $_.UnixMode, $_.Target, $_.LastWriteTime.Ticks -join '|' }
            @($items | ForEach-Object $shape) | Should -Be @($listed | ForEach-Object $shape)
            @($items | Where-Object Target).Count | Should -BeGreaterOrEqual 3
        }
        It 'gets the root and items by literal path' {
            (Get-GuestItem /).ItemType | Should -Be 'Directory'
            (Get-GuestItem -LiteralPath '/data/space name.txt').Length | Should -Be 7
        }
    }

    Context 'content' {
        It 'reads lines' {
            Get-GuestContent /data/small/file07.txt | Should -Be @('line one of 7', 'line two of 7', 'line three of 7')
        }
        It 'reads the first lines only with -TotalCount' {
            Get-GuestContent /data/small/file07.txt -TotalCount 2 | Should -Be @('line one of 7', 'line two of 7')
        }
        It 'reads the first lines as one string with -Raw -TotalCount' {
            Get-GuestContent /data/small/file07.txt -Raw -TotalCount 2 | Should -BeExactly "line one of 7`nline two of 7`n"
        }
        It 'detects a byte-order mark and decodes by it' {
            Get-GuestContent /data/utf16.txt | Should -Be @('wide ✓', 'second')
            Get-GuestContent /data/utf8bom.txt -Raw | Should -BeExactly "bom`n"
        }
        It 'reads raw text' {
            Get-GuestContent /etc/hostname -Raw | Should -BeExactly "testhost`n"
        }
        It 'reads bytes' {
            $b = Get-GuestContent /data/binary.bin -AsByteStream -Raw
            $b.Length | Should -Be 256
            $b[255] | Should -Be 255
            (Get-GuestContent /data/binary.bin -AsByteStream -TotalCount 4) | Should -Be @(0, 1, 2, 3)
        }
        It 'pipes items into Get-GuestContent by FullName' {
            (Get-GuestChildItem /etc -Filter *.conf | Get-GuestContent).Count | Should -Be 3
        }
        It 'a missing file is ObjectNotFound' {
            Get-GuestContent /etc/nope -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }
    }

    Context 'copying out' {
        It 'copies a file and keeps its bytes' {
            $out = New-Item -ItemType Directory "$TestDrive/out1"
            Copy-GuestItem /data/big.bin -Destination $out -PassThru | Should -BeOfType [IO.FileInfo]
            (Get-Item "$out/big.bin").Length | Should -Be 3MB
            $expected = [byte[]]::new(3MB); [Random]::new(1234).NextBytes($expected)
            (Get-FileHash "$out/big.bin").Hash | Should -Be ((Get-FileHash -InputStream ([IO.MemoryStream]::new($expected))).Hash)
            Get-ChildItem -Force $out -Filter '*partial*' | Should -BeNullOrEmpty
        }
        It 'copies a tree with -Recurse, links included, into a new directory name' {
            Copy-GuestItem /data/small -Destination "$TestDrive/small-copy" -Recurse
            (Get-ChildItem "$TestDrive/small-copy").Count | Should -Be 50
            Copy-GuestItem /data/links -Destination "$TestDrive/links" -Recurse
            (Get-Item "$TestDrive/links/rel").LinkTarget | Should -Be '../small/file01.txt'
        }
        It 'copies what the pipeline selects (the users'' idiom)' {
            $dest = New-Item -ItemType Directory "$TestDrive/large"
            Get-GuestChildItem /data -Recurse | Where-Object Length -gt 1MB | Copy-GuestItem -Destination $dest
            (Get-ChildItem $dest).Name | Should -Be @('big.bin')
        }
        It 'a missing guest source is an error naming it, other sources still copy' {
            $dest = New-Item -ItemType Directory "$TestDrive/mixed"
            Copy-GuestItem /nope, /etc/motd -Destination $dest -ErrorVariable err -ErrorAction SilentlyContinue
            Test-Path "$dest/motd" | Should -BeTrue
            $err[0].FullyQualifiedErrorId | Should -Be 'PathNotFound,GuestFs.PowerShell.Commands.CopyGuestItemCommand'
        }
    }

    Context 'read-only refusal and -WhatIf' {
        It '<Command> refuses on a read-only session' -TestCases @(
            @{ Command = 'Set-GuestContent'; Arguments = @{ Path = '/etc/motd'; Value = 'x' } }
            @{ Command = 'Add-GuestContent'; Arguments = @{ Path = '/etc/motd'; Value = 'x' } }
            @{ Command = 'New-GuestItem'; Arguments = @{ Path = '/newfile' } }
            @{ Command = 'Remove-GuestItem'; Arguments = @{ Path = '/etc/motd' } }
            @{ Command = 'Move-GuestItem'; Arguments = @{ Path = '/etc/motd'; Destination = '/motd2' } }
            @{ Command = 'Rename-GuestItem'; Arguments = @{ Path = '/etc/motd'; NewName = 'motd2' } }
            @{ Command = 'Set-GuestItem'; Arguments = @{ Path = '/etc/motd'; Mode = '0600' } }
            @{ Command = 'Copy-GuestItem'; Arguments = @{ LocalPath = $PSCommandPath; Destination = '/' } }
        ) {
            param($Command, $Arguments)
            & $Command @Arguments -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike "GuestDiskReadOnly,*"
            Test-GuestPath /etc/motd | Should -BeTrue
            Test-GuestPath /newfile | Should -BeFalse
        }
        It '-WhatIf on a read-only session reports what it would do instead of refusing' {
            $out = Set-GuestContent /etc/motd -Value x -WhatIf -ErrorVariable err 6>&1
            $err | Should -BeNullOrEmpty
            Get-GuestContent /etc/motd | Should -Be 'Welcome'
        }
        It '-WhatIf on a mount changes nothing' {
            Mount-GuestFs -Device /dev/sda1 -MountPoint /data -WhatIf
            (Get-GuestMount).Count | Should -Be 1
        }
    }
}
