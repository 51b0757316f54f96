# Everything that changes a guest: one writable session on a throw-away overlay
# of the cached base image (one launch), plus one launch to prove the changes persisted.
Describe 'Changing a guest (writable session)' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:image = New-GuestFsTestOverlay -Directory $TestDrive
        $script:disk = Open-GuestDisk -Path $image -Writable
        Mount-GuestFs -Device /dev/sda1 -MountPoint /
    }
    AfterAll { Close-GuestDisk -All }

    Context 'content' {
        It 'Set-GuestContent then Get-GuestContent round-trips lines' {
            Set-GuestContent /etc/motd -Value 'one', 'two'
            Get-GuestContent /etc/motd | Should -Be @('one', 'two')
            Get-GuestContent /etc/motd -Raw | Should -BeExactly "one`ntwo`n"
        }
        It 'takes values from the pipeline and appends with Add-GuestContent' {
            'a', 'b' | Set-GuestContent /tmp-list.txt
            'c' | Add-GuestContent /tmp-list.txt
            Get-GuestContent /tmp-list.txt | Should -Be @('a', 'b', 'c')
        }
        It '-NoNewline writes exactly the text' {
            Set-GuestContent /nonl.txt -Value 'abc' -NoNewline
            (Get-GuestItem /nonl.txt).Length | Should -Be 3
        }
        It 'round-trips every byte value with -AsByteStream' {
            $bytes = [byte[]](0..255 + 255..0)
            Set-GuestContent /bytes.bin -Value $bytes -AsByteStream
            $back = Get-GuestContent /bytes.bin -AsByteStream -Raw
            [Convert]::ToHexString($back) | Should -Be ([Convert]::ToHexString($bytes))
        }
        It 'round-trips a file larger than the 2 MiB inline limit' {
            $big = [byte[]]::new(5MB); [Random]::new(5).NextBytes($big)
            Set-GuestContent /big5.bin -Value (,$big) -AsByteStream
            $back = Get-GuestContent /big5.bin -AsByteStream -Raw
            $back.Length | Should -Be 5MB
            [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($back)) | Should -Be ([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($big)))
        }
        It 'writes and reads files with non-ASCII names and content' {
            Set-GuestContent -Path '/Grüße ☃.txt' -Value 'Ünïcödé ✓'
            (Get-GuestChildItem / -Filter 'Grüße*').Name | Should -Be 'Grüße ☃.txt'
            Get-GuestContent -LiteralPath '/Grüße ☃.txt' | Should -Be 'Ünïcödé ✓'
        }
        It 'honours -Encoding' {
            Set-GuestContent /latin.txt -Value 'é' -Encoding latin1 -NoNewline
            (Get-GuestContent /latin.txt -AsByteStream -Raw) | Should -Be @(0xE9)
            Get-GuestContent /latin.txt -Encoding latin1 | Should -Be 'é'
        }
        It '-WhatIf writes nothing' {
            Set-GuestContent /whatif.txt -Value 'x' -WhatIf
            Test-GuestPath /whatif.txt | Should -BeFalse
        }
    }

    Context 'items' {
        It 'creates files, directories with parents, and links' {
            (New-GuestItem /new/a/b -ItemType Directory).ItemType | Should -Be 'Directory'
            (New-GuestItem /new/file.txt -Value 'hi').Length | Should -Be 2
            (New-GuestItem /new/ln -ItemType SymbolicLink -Value file.txt).Target | Should -Be 'file.txt'
        }
        It 'refuses to replace an existing item without -Force' {
            New-GuestItem /new/file.txt -Value 'again' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'ItemExists,GuestFs.PowerShell.Commands.NewGuestItemCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
            New-GuestItem /new/file.txt -Value 'again' -Force | Out-Null
            Get-GuestContent /new/file.txt -Raw | Should -Be 'again'
        }
        It 'renames within a directory and refuses a path as the new name' {
            Rename-GuestItem /new/file.txt -NewName renamed.txt
            Test-GuestPath /new/renamed.txt | Should -BeTrue
            Rename-GuestItem /new/renamed.txt -NewName 'a/b' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'NewNameNotAName,GuestFs.PowerShell.Commands.RenameGuestItemCommand'
        }
        It 'moves into a directory and to a new name' {
            Move-GuestItem /new/renamed.txt -Destination /new/a
            Test-GuestPath /new/a/renamed.txt | Should -BeTrue
            Move-GuestItem /new/a/renamed.txt -Destination /moved.txt -PassThru | ForEach-Object FullName | Should -Be '/moved.txt'
        }
        It 'sets mode, owner, group and times' {
            $t = [datetime]::new(2020, 1, 2, 3, 4, 5, [DateTimeKind]::Utc)
            $i = Set-GuestItem /moved.txt -Mode 0640 -Owner 1234 -Group 55 -LastWriteTime $t -PassThru
            $i.Mode | Should -Be '-rw-r-----'
            $i.Uid | Should -Be 1234
            $i.Gid | Should -Be 55
            $i.LastWriteTime.ToUniversalTime() | Should -Be $t
        }
        It 'keeps setuid when the owner changes too' {
            New-GuestItem /suid -Value 'x' | Out-Null
            (Set-GuestItem /suid -Mode 4755 -Owner 0 -Group 0 -PassThru).Mode | Should -Be '-rwsr-xr-x'
        }
        It 'rename and move refuse to replace a directory, even with -Force' {
            New-GuestItem /rdir/inner -ItemType Directory | Out-Null
            New-GuestItem /rfile -Value 'f' | Out-Null
            Rename-GuestItem /rfile -NewName rdir -Force -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'DestinationExists,GuestFs.PowerShell.Commands.RenameGuestItemCommand'
            Test-GuestPath /rdir/rfile | Should -BeFalse
            New-GuestItem /rdir2/inner -ItemType Directory | Out-Null
            Move-GuestItem /rdir2/inner -Destination /rdir -Force -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -Be 'DestinationExists,GuestFs.PowerShell.Commands.MoveGuestItemCommand'
        }
        It 'rejects a bad -Mode before touching anything' {
            { Set-GuestItem /moved.txt -Mode 999 } | Should -Throw -ErrorId 'InvalidMode,GuestFs.PowerShell.Commands.SetGuestItemCommand'
        }
        It 'removes files, refuses a non-empty directory without -Recurse, removes trees with it' {
            Remove-GuestItem /moved.txt
            Test-GuestPath /moved.txt | Should -BeFalse
            Remove-GuestItem /new -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'DirectoryNotEmpty,GuestFs.PowerShell.Commands.RemoveGuestItemCommand'
            Remove-GuestItem /new -Recurse
            Test-GuestPath /new | Should -BeFalse
        }
        It 'removes by wildcard' {
            Remove-GuestItem /data/small/file4*.txt
            (Get-GuestChildItem /data/small).Count | Should -Be 40
        }
        It 'refuses to remove the root' {
            Remove-GuestItem / -Recurse -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'RemoveRootRefused,GuestFs.PowerShell.Commands.RemoveGuestItemCommand'
            Test-GuestPath /etc | Should -BeTrue
        }
    }

    Context 'listing' {
        It 'lists a directory too large for one readdir reply (over the 4 MiB message limit) recursively' {
            # 21,000 names of 205 characters on a tmpfs mounted over a new directory (the image
            # keeps its inodes): readdir's reply cannot be encoded, the listing goes by ls0.
            New-GuestItem /huge -ItemType Directory | Out-Null
            $long = 'n' * 200
            $made = Invoke-GuestFsApi debug -Arguments @{ subcmd = 'sh'; extraargs = @("mount -t tmpfs gfstest /sysroot/huge && cd /sysroot/huge && mkdir sub && touch sub/inner && seq -w 1 21000 | sed 's/^/$long/' | xargs touch && ls | wc -l") } -ErrorAction Stop
            try {
                "$made".Trim() | Should -Be '21001'
                { Invoke-GuestFsApi readdir -Arguments @{ dir = '/huge' } -ErrorAction Stop } | Should -Throw '*encode reply*'
                $all = @(Get-GuestChildItem /huge -Recurse)
                $all.Count | Should -Be 21002
                ($all | Where-Object Name -eq 'sub').ItemType | Should -Be 'Directory'
                ($all | Where-Object FullName -eq '/huge/sub/inner').ItemType | Should -Be 'File'
                ($all | Where-Object Name -like "$($long)21000").Length | Should -Be 0
            }
            finally { Invoke-GuestFsApi debug -Arguments @{ subcmd = 'sh'; extraargs = @('umount /sysroot/huge') } -ErrorAction Stop | Out-Null }
            Remove-GuestItem /huge
        }
    }

    Context 'copying in and within' {
        It 'copies a host file into a guest directory' {
            $f = "$TestDrive/host.txt"; Set-Content $f 'from host'
            (Copy-GuestItem -LocalPath $f -Destination /data -PassThru).FullName | Should -Be '/data/host.txt'
            Get-GuestContent /data/host.txt | Should -Be 'from host'
        }
        It 'copies a host tree with -Recurse under a new name, keeping content and links' {
            $src = New-Item -ItemType Directory "$TestDrive/src"
            New-Item -ItemType Directory "$src/sub" | Out-Null
            1..30 | ForEach-Object { Set-Content "$src/sub/f$_.txt" "n$_" }
            New-Item -ItemType SymbolicLink -Path "$src/lnk" -Target 'sub/f1.txt' | Out-Null
            Copy-GuestItem -LocalPath $src -Destination /copied -Recurse
            (Get-GuestChildItem /copied/sub).Count | Should -Be 30
            Get-GuestContent /copied/sub/f7.txt | Should -Be 'n7'
            (Get-GuestItem /copied/lnk).Target | Should -Be 'sub/f1.txt'
        }
        It 'host Get-ChildItem output pipes into Copy-GuestItem' {
            New-GuestItem /piped -ItemType Directory | Out-Null
            Get-ChildItem "$TestDrive/src/sub" -Filter 'f1*.txt' | Copy-GuestItem -Destination /piped
            (Get-GuestChildItem /piped).Count | Should -Be 11
        }
        It 'several sources to one non-directory name: the second is refused, not silently overwritten' {
            Copy-GuestItem /etc/motd, /etc/hostname -Destination /onename -WithinGuest -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'DestinationNotADirectory,GuestFs.PowerShell.Commands.CopyGuestItemCommand'
            Get-GuestContent /onename | Should -Be @('one', 'two')
        }
        It 'a missing guest target directory is reported with the real name, not a temporary one' {
            $f = "$TestDrive/host2.txt"; Set-Content $f 'x'
            Copy-GuestItem -LocalPath $f -Destination /no/such/dir/host2.txt -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].Exception.Message | Should -Match '/no/such/dir/host2.txt'
            $err[0].Exception.Message | Should -Not -Match 'partial'
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }
        It 'copies within the guest' {
            Copy-GuestItem /etc/hostname -Destination /hostname.copy -WithinGuest
            Get-GuestContent /hostname.copy | Should -Be 'testhost'
            Copy-GuestItem /data/small -Destination /small2 -WithinGuest -Recurse
            (Get-GuestChildItem /small2).Count | Should -Be 40
        }
    }

    Context 'progress' {
        It 'a large upload shows bytes, percent and time left, and the daemon''s own progress' {
            $big = "$TestDrive/progress.bin"
            $fs = [IO.File]::Create($big); $fs.SetLength(320MB); $fs.Dispose()
            $ps = [powershell]::Create()
            $null = $ps.AddScript("Import-Module '$script:ModulePath'; Copy-GuestItem -Disk (Get-GuestDisk -Id $($disk.Id)) -LocalPath '$big' -Destination /progress.bin")
            $null = $ps.Invoke()
            $ps.HadErrors | Should -BeFalse
            $records = @($ps.Streams.Progress)
            $ps.Dispose()
            $copy = $records | Where-Object { $_.Activity -like 'Copying*' -and $_.RecordType -eq 'Processing' }
            $copy.Count | Should -BeGreaterThan 2
            ($copy | Where-Object PercentComplete -gt 0 | Select-Object -Last 1).StatusDescription | Should -Match 'MiB of 320'
            ($copy | Where-Object SecondsRemaining -ge 0).Count | Should -BeGreaterThan 0
            ($records | Where-Object Activity -eq 'guestfsd: upload').Count | Should -BeGreaterThan 0 -Because 'the daemon reports progress for transfers over 2 s'
            ($records | Where-Object RecordType -eq 'Completed').Count | Should -BeGreaterThan 0
            (Get-GuestItem /progress.bin).Length | Should -Be 320MB
            Remove-GuestItem /progress.bin
        }
    }

    Context 'cancellation (Ctrl+C)' {
        It 'stopping an upload cancels it through the protocol, leaves no file, and the session stays usable' {
            $big = "$TestDrive/big-sparse.bin"
            $fs = [IO.File]::Create($big); $fs.SetLength(768MB); $fs.Dispose()
            $ps = [powershell]::Create()
            $null = $ps.AddScript("Import-Module '$script:ModulePath'; Copy-GuestItem -Disk (Get-GuestDisk -Id $($disk.Id)) -LocalPath '$big' -Destination /cancelled.bin")
            $handle = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ($ps.Streams.Progress.Count -eq 0 -and -not $handle.IsCompleted -and [DateTime]::UtcNow -lt $deadline) { $handle.AsyncWaitHandle.WaitOne(50) | Out-Null }
            $handle.IsCompleted | Should -BeFalse -Because 'the upload must still be running when it is stopped'
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $ps.Dispose()
            $disk.State | Should -Be 'Ready'
            Test-GuestPath /cancelled.bin | Should -BeFalse
            (Get-GuestChildItem / -Force).Name | Where-Object { $_ -like '*partial*' } | Should -BeNullOrEmpty
            Get-GuestContent /etc/hostname | Should -Be 'testhost'
        }
    }

    Context 'dismounting' {
        It 'Dismount-GuestFs -All unmounts, and listing then fails clearly' {
            Dismount-GuestFs -All
            Get-GuestMount | Should -BeNullOrEmpty
            Get-GuestChildItem /etc -ErrorVariable err -ErrorAction SilentlyContinue
            $err | Should -Not -BeNullOrEmpty
            Mount-GuestFs -Device /dev/sda1 -MountPoint /
        }
    }

    Context 'persistence' {
        It 'changes made with -Writable are on the disk after closing' {
            Set-GuestContent /persist.txt -Value 'kept'
            Close-GuestDisk
            $again = Open-GuestDisk -Path $image
            try {
                Mount-GuestFs -Disk $again -Device /dev/sda1 -MountPoint /
                Get-GuestContent -Disk $again /persist.txt | Should -Be 'kept'
            }
            finally { Close-GuestDisk -Disk $again }
        }
    }
}
