# Faults and hostile input (docs/reliability.md): bad images get clear errors that name
# the image and the fix, parallel sessions survive one of them dying, repeated
# open/close leaks nothing, and guest content copied out never escapes its destination.

BeforeAll {
    . $PSScriptRoot/TestSupport.ps1
    # qemu processes started by this process (others on the machine do not count).
    function script:Get-OwnQemu { @(Get-QemuProcessIds | Where-Object { (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) }
    # Session temp dirs of this file's sessions only: they go under a private parent
    # (LIBGUESTFS_TMPDIR), so other processes' guestfs-* dirs in /tmp do not count.
    $script:sessionTmp = Join-Path ([IO.Path]::GetTempPath()) ("gfs-reltmp-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $sessionTmp | Out-Null
    $script:savedTmpVar = $env:LIBGUESTFS_TMPDIR
    $env:LIBGUESTFS_TMPDIR = $sessionTmp
    function script:Get-OwnTempDirs { @(Get-ChildItem $sessionTmp -Directory -Filter 'guestfs-*' -ErrorAction SilentlyContinue | ForEach-Object Name) }
}

AfterAll {
    $env:LIBGUESTFS_TMPDIR = $savedTmpVar
    Remove-Item -Recurse -Force $sessionTmp -ErrorAction SilentlyContinue
}

Describe 'Bad images give clear errors and leave nothing behind' -Tag 'Appliance' {
    BeforeAll {
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-bad-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $null = New-Item "$work/empty.img" -ItemType File
        & qemu-img create -q -f qcow2 "$work/good.qcow2" 64M
        $bytes = [IO.File]::ReadAllBytes("$work/good.qcow2")
        [IO.File]::WriteAllBytes("$work/truncated.qcow2", $bytes[0..100])
        $bad = [byte[]]$bytes.Clone(); for ($i = 8; $i -lt 64; $i++) { $bad[$i] = 0xFF }
        [IO.File]::WriteAllBytes("$work/corrupt.qcow2", $bad)
        & qemu-img create -q -f raw "$work/blank.img" 64M
        # An ext4 filesystem whose superblock is destroyed: listed as a partition, fails to mount.
        New-GuestDiskImage -Path "$work/broken.img" -Size 64MB -FileSystem ext4 | Out-Null
        $b = Open-GuestDisk -Path "$work/broken.img" -Writable
        try { Invoke-GuestFsApi -Disk $b pwrite_device -Arguments @{ device = '/dev/sda1'; content = [byte[]]::new(1024); offset = 1024 } | Out-Null }  # the primary superblock
        finally { Close-GuestDisk $b }
        $script:qemuBefore = Get-OwnQemu
        $script:tempBefore = Get-OwnTempDirs
        function script:Open-Failing([string] $Path, [hashtable] $More = @{}) {
            try { $d = Open-GuestDisk -Path $Path @More -ErrorAction Stop; Close-GuestDisk $d; $null } catch { $_ }
        }
    }
    AfterAll {
        Get-GuestDisk | Close-GuestDisk
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }
    AfterEach {
        @(Get-OwnQemu | Where-Object { $_ -notin $qemuBefore }) | Should -BeNullOrEmpty -Because 'no qemu may be left behind'
        @(Get-OwnTempDirs | Where-Object { $_ -notin $tempBefore }) | Should -BeNullOrEmpty -Because 'no temp dir may be left behind'
    }

    It 'a zero-length file is refused before launching, naming the image' {
        $e = Open-Failing "$work/empty.img"
        $e.Exception.Message | Should -Match 'empty.img.*empty \(0 bytes\).*New-GuestDiskImage'
        Get-GuestDisk | Should -BeNullOrEmpty
    }

    It 'a truncated qcow2 is refused as corrupt or truncated' {
        $e = Open-Failing "$work/truncated.qcow2"
        $e.Exception.Message | Should -Match "truncated.qcow2.*corrupt, truncated, or not a disk image"
    }

    It 'a corrupt qcow2 header is refused the same way' {
        $e = Open-Failing "$work/corrupt.qcow2"
        $e.Exception.Message | Should -Match "corrupt.qcow2.*corrupt, truncated, or not a disk image"
    }

    It 'a qcow2 image opened with -Format raw is refused (writing would destroy it)' {
        $e = Open-Failing "$work/good.qcow2" @{ Format = 'raw'; Writable = $true }
        $e.Exception.Message | Should -Match "good.qcow2' is a qcow2 image, not raw; use -Format qcow2"
        (& qemu-img info --output=json "$work/good.qcow2" | ConvertFrom-Json).format | Should -Be 'qcow2'
    }

    It 'an image locked by another writer is refused with the reason, and the writer keeps working' {
        $writer = Open-GuestDisk -Path "$work/good.qcow2" -Writable
        try {
            $e = Open-Failing "$work/good.qcow2" @{ Writable = $true }
            $e.Exception.Message | Should -Match "good.qcow2' is in use.*write lock"
            $e.FullyQualifiedErrorId | Should -BeLike 'ImageLocked,*'
            $e.CategoryInfo.Category | Should -Be 'ResourceBusy'
            $e = Open-Failing "$work/good.qcow2"
            $e.Exception.Message | Should -Match "good.qcow2' is in use.*write lock"
            # The cold path (qemu's own -drive open) refuses it the same way.
            $e = Open-Failing "$work/good.qcow2" @{ Writable = $true; ColdStart = $true }
            $e.Exception.Message | Should -Match "good.qcow2' is in use.*write lock"
            Invoke-GuestFsApi -Disk $writer list_devices | Should -Be '/dev/sda'
        }
        finally { Close-GuestDisk $writer }
    }

    It 'an image with no partitions and no filesystem: nothing to mount, and mounting says how to find out' {
        $d = Open-GuestDisk -Path "$work/blank.img"
        try {
            @(Get-GuestFileSystem -Disk $d) | Should -BeNullOrEmpty
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Match '^MountFailed'
            $err[0].ErrorDetails.Message | Should -Match 'Get-GuestFileSystem'
            Mount-GuestFs -Disk $d -Device /dev/sda -MountPoint / -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].ErrorDetails.Message | Should -Match '(?s)Cannot mount /dev/sda on /.*Get-GuestFileSystem'
        }
        finally { Close-GuestDisk $d }
    }

    It 'a filesystem that fails to mount gives a MountFailed error naming the device, and the session stays usable' {
        $d = Open-GuestDisk -Path "$work/broken.img"
        try {
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Match '^MountFailed'
            $err[0].TargetObject | Should -Be '/dev/sda1'
            $err[0].ErrorDetails.Message | Should -Match 'Cannot mount /dev/sda1'
            Invoke-GuestFsApi -Disk $d list_partitions | Should -Be '/dev/sda1'
        }
        finally { Close-GuestDisk $d }
    }
}

Describe 'Sessions in parallel, one of them killed' -Tag 'Appliance' {
    BeforeAll {
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-par-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $script:images = 1..4 | ForEach-Object { New-GuestFsTestOverlay $work "p$_.qcow2" }
    }
    AfterAll { Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue }

    It 'four sessions under ForEach-Object -Parallel: the killed one fails alone, the other three finish' {
        $module = $script:ModulePath
        $results = $images | ForEach-Object -ThrottleLimit 4 -Parallel {
            Import-Module $using:module
            $img = $_
            $d = Open-GuestDisk -Path $img
            try {
                Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
                if ($img -like '*p2.qcow2') {
                    # Kill this session's qemu in the middle of a long call.
                    $null = [Diagnostics.Process]::Start('sh', [string[]]@('-c', "sleep 1; kill -9 $($d.ProcessId)"))
                    try { Invoke-GuestFsApi -Disk $d sleep -secs 20 -ErrorAction Stop; 'killed session answered' } catch { "failed: $img" }
                }
                else {
                    $n = @(Get-GuestChildItem -Disk $d /data/tree -Recurse).Count
                    "ok: $img $n"
                }
            }
            finally { Close-GuestDisk $d }
        }
        $results | Where-Object { $_ -like 'ok:*' } | Should -HaveCount 3
        $results | Where-Object { $_ -like 'ok:*' } | ForEach-Object { ($_ -split ' ')[-1] } | Should -Be @('2000', '2000', '2000')
        $results | Where-Object { $_ -like 'failed:*' } | Should -Be "failed: $($images[1])"
        Get-GuestDisk | Should -BeNullOrEmpty
        @(Get-OwnQemu) | Should -BeNullOrEmpty
    }
}

Describe 'Repeated open and close leak nothing' -Tag 'Appliance' {
    It 'twenty open/call/close cycles leave the same processes, descriptors, sockets and temp dirs' {
        $base = Get-GuestFsBaseImage
        # One cycle first, so lazily created things (thread pool, caches) exist before counting.
        Open-GuestDisk -Path $base | Close-GuestDisk
        [GC]::Collect(); [GC]::WaitForPendingFinalizers()
        # Descriptors of this process, leaving out the assembly files .NET maps when something
        # (PowerShell's own update check, for one) first loads them: not ours, and not leaks.
        $ownFds = { @(Get-ChildItem /proc/self/fd | Where-Object { "$($_.Target)" -notlike '*.dll' }).Count }
        $fdBefore = & $ownFds
        # Each session's private temp dir, read from its qemu's command line (other processes
        # on the machine may have guestfs-* dirs of their own at the same time).
        $sessionDirs = [Collections.Generic.List[string]]::new()
        foreach ($i in 1..20) {
            $d = Open-GuestDisk -Path $base
            Invoke-GuestFsApi -Disk $d list_devices | Should -Be '/dev/sda'
            $cmdline = [IO.File]::ReadAllText("/proc/$($d.ProcessId)/cmdline")
            if ($cmdline -match '(/[^\x00]*?/guestfs-[a-z0-9]+)/') { $sessionDirs.Add($Matches[1]) }
            Close-GuestDisk $d
        }
        [GC]::Collect(); [GC]::WaitForPendingFinalizers()
        @(Get-OwnQemu) | Should -BeNullOrEmpty
        $sessionDirs.Count | Should -Be 20
        @($sessionDirs | Where-Object { Test-Path $_ }) | Should -BeNullOrEmpty
        & $ownFds | Should -BeLessOrEqual ($fdBefore + 3)
    }
}

Describe 'Guest content copied to the host never escapes the destination' -Tag 'Appliance' {
    BeforeAll {
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-hostile-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $script:d = Open-GuestDisk -Path (New-GuestFsTestOverlay $work) -Writable
        Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
        function script:Api([string] $Name, [hashtable] $Arguments) { Invoke-GuestFsApi -Disk $d $Name -Arguments $Arguments -ErrorAction Stop }
        Api mkdir @{ path = '/hostile' }
        Api mkdir @{ path = '/hostile/sub' }
        Api ln_s @{ target = '/etc/hostname'; linkname = '/hostile/abs-link' }
        Api ln_s @{ target = '../../../../../../../..' + $work + '/escaped'; linkname = '/hostile/rel-escape' }
        Api ln_s @{ target = '/'; linkname = '/hostile/root-link' }
        Set-GuestContent -Disk $d -LiteralPath "/hostile/new`nline" -Value 'newline name'
        Set-GuestContent -Disk $d -LiteralPath ('/hostile/' + ('n' * 250)) -Value 'long name'
        Set-GuestContent -Disk $d -LiteralPath '/hostile/sub/quote''s "and" spaces ünï' -Value 'odd'
        Api mkfifo @{ mode = 420; path = '/hostile/fifo' }
        Api mknod @{ mode = 8612; devmajor = 1; devminor = 3; path = '/hostile/null-device' }
    }
    AfterAll {
        if ($d) { Close-GuestDisk $d }
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }

    It 'links stay links inside the destination, devices and FIFOs are not created, odd names arrive intact' {
        $dest = Join-Path $work "out dir 'q' `"dq`" ünï"
        New-Item -ItemType Directory $dest | Out-Null
        Copy-GuestItem -Disk $d /hostile -Destination $dest -Recurse -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
        $root = Join-Path $dest 'hostile'
        Test-Path "$work/escaped" | Should -BeFalse
        (Get-Item "$root/abs-link" -Force).LinkType | Should -Be 'SymbolicLink'
        (Get-Item "$root/rel-escape" -Force).LinkType | Should -Be 'SymbolicLink'
        (Get-Item "$root/root-link" -Force).LinkType | Should -Be 'SymbolicLink'
        Get-Content -LiteralPath "$root/new`nline" | Should -Be 'newline name'
        Get-Content -LiteralPath ("$root/" + ('n' * 250)) | Should -Be 'long name'
        Get-Content -LiteralPath "$root/sub/quote's `"and`" spaces ünï" | Should -Be 'odd'
        Test-Path -LiteralPath "$root/null-device" | Should -BeFalse
        Test-Path -LiteralPath "$root/fifo" | Should -BeFalse
        # Nothing was written anywhere but under the destination.
        @(Get-ChildItem -LiteralPath $work -Force | Where-Object Name -notin @('work.qcow2', (Split-Path $dest -Leaf))) | Should -BeNullOrEmpty
    }

    It 'host paths with spaces, quotes and unicode work both ways' {
        $dir = Join-Path $work "h ost 'single' `"double`" ☃"
        New-Item -ItemType Directory $dir | Out-Null
        Copy-GuestItem -Disk $d /etc/hostname -Destination "$dir/host name ☃.txt"
        Get-Content -LiteralPath "$dir/host name ☃.txt" -Raw | Should -Be "testhost`n"
        Copy-GuestItem -Disk $d -LocalPath "$dir/host name ☃.txt" -Destination '/back ☃.txt'
        Get-GuestContent -Disk $d -LiteralPath '/back ☃.txt' -Raw | Should -Be "testhost`n"
    }

    It 'a download stopped with Ctrl+C leaves no file that looks complete, and the session stays usable' {
        Api fill @{ c = 0x41; len = 200MB; path = '/huge.bin' }
        $target = Join-Path $work 'huge.bin'
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$script:ModulePath'; Copy-GuestItem -Disk (Get-GuestDisk -Id $($d.Id)) /huge.bin -Destination '$target'")
        $h = $ps.BeginInvoke()
        # Wait until the download is writing its (temporary) file, not for a fixed time.
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not (Get-ChildItem $work -Force | Where-Object { $_.Name -like '*huge*' -and $_.Length -gt 0 }) -and -not $h.IsCompleted -and [DateTime]::UtcNow -lt $deadline) {
            Start-Sleep -Milliseconds 20
        }
        @(Get-ChildItem $work -Force | Where-Object Name -like '*huge*') | Should -Not -BeNullOrEmpty -Because 'the download must have started'
        $h.IsCompleted | Should -BeFalse -Because 'the download must still be running when it is stopped'
        $ps.Stop()
        $ps.Dispose()
        Test-Path $target | Should -BeFalse
        @(Get-ChildItem $work -Force | Where-Object Name -like '*huge*') | Should -BeNullOrEmpty -Because 'the temporary download file is removed'
        Invoke-GuestFsApi -Disk $d list_devices | Should -Be '/dev/sda'
    }
}

Describe 'The rest of docs/reliability.md, each row with a test' -Tag 'Appliance', 'Reliability' {
    BeforeAll {
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-rows-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $pwsh = [Environment]::ProcessPath
        $script:pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
        $script:pwshExe = $pwsh
    }
    AfterAll { Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue }

    It 'the host process killed with SIGKILL: the watchdog stops its qemu and removes its temp dir within seconds' {
        $img = New-GuestFsTestOverlay $work 'watchdog.qcow2'
        $ready = Join-Path $work 'watchdog.ready'
        $script = "Import-Module '$script:ModulePath'; `$d = Open-GuestDisk -Path '$img'; Set-Content -LiteralPath '$ready' -Value `$PID; Start-Sleep 600"
        $child = Start-Process -FilePath $pwshExe -ArgumentList ($pwshArgs + @('-NoProfile', '-NonInteractive', '-Command', $script)) -PassThru
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            while (-not (Test-Path $ready) -and -not $child.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Test-Path $ready | Should -BeTrue -Because 'the child must have opened its disk'
            $qemu = @(Get-QemuProcessIds | Where-Object { (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $child.Id })
            $qemu.Count | Should -Be 1
            $cmdline = [IO.File]::ReadAllText("/proc/$($qemu[0])/cmdline")
            $cmdline -match '(/[^\x00]*?/guestfs-[a-z0-9]+)/' | Should -BeTrue
            $tempDir = $Matches[1]
            Test-Path $tempDir | Should -BeTrue
            & kill -9 $child.Id
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while (((Get-Process -Id $qemu[0] -ErrorAction SilentlyContinue) -or (Test-Path $tempDir)) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Get-Process -Id $qemu[0] -ErrorAction SilentlyContinue | Should -BeNullOrEmpty -Because 'the watchdog kills qemu when its host dies'
            Test-Path $tempDir | Should -BeFalse -Because 'the watchdog removes the session temp dir'
        }
        finally { if (-not $child.HasExited) { $child.Kill() } }
    }

    It 'a daemon that does not answer in time: the launch fails saying so and naming the variable to raise, nothing left' {
        $img = New-GuestFsTestOverlay $work 'timeout.qcow2'
        $saved = $env:GUESTFS_LAUNCH_TIMEOUT, $env:LIBGUESTFS_DEBUG
        $env:GUESTFS_LAUNCH_TIMEOUT = '4'; $env:LIBGUESTFS_DEBUG = '1'
        $before = @(Get-QemuProcessIds)
        try {
            $err = try { Open-GuestDisk -Path $img -ColdStart -ErrorAction Stop -Debug:$false 5>$null | Out-Null; $null } catch { $_ }
        }
        finally { $env:GUESTFS_LAUNCH_TIMEOUT, $env:LIBGUESTFS_DEBUG = $saved }
        $err | Should -Not -BeNullOrEmpty -Because 'a 4 s launch deadline cannot be met by a TCG boot'
        $e = $err.Exception; while ($e -and $e -isnot [GuestFs.Engine.Session.GuestFsLaunchException]) { $e = $e.InnerException }
        $e | Should -Not -BeNullOrEmpty -Because "the error is a launch failure: $($err.Exception.Message)"
        $e.Message | Should -Match 'did not send the launch flag within 4 s'
        $e.Message | Should -Match 'GUESTFS_LAUNCH_TIMEOUT'
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while (@(Get-QemuProcessIds | Where-Object { $_ -notin $before }).Count -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        @(Get-QemuProcessIds | Where-Object { $_ -notin $before }) | Should -BeNullOrEmpty
    }

    It 'guest names that are not valid UTF-8 are listed, read and copied out' {
        $d = Open-GuestDisk -Path (New-GuestFsTestOverlay $work 'utf8.qcow2') -Writable
        try {
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
            Invoke-GuestFsApi -Disk $d mkdir -Arguments @{ path = '/badnames' } | Out-Null
            # Bytes 0xff and 0xc3 0x28 are not UTF-8; made by the appliance's shell with fixed text.
            Invoke-GuestFsApi -Disk $d debug -Arguments @{ subcmd = 'sh'; extraargs = @('printf x > "$root/badnames/$(printf ''bad\377name'')"; printf y > "$root/badnames/$(printf ''half\303\050'')"') } | Out-Null
            $items = @(Get-GuestChildItem -Disk $d /badnames)
            $items.Count | Should -Be 2
            # The names travel back to the daemon as the same bytes: each file is found again and read.
            @($items | ForEach-Object { Get-GuestContent -Disk $d -LiteralPath $_.FullName -Raw }) | Sort-Object | Should -Be @('x', 'y')
            $dest = Join-Path $work 'badnames-out'
            Copy-GuestItem -Disk $d /badnames -Destination $dest -Recurse
            @(Get-ChildItem -LiteralPath $dest -File).Count | Should -Be 2
            @(Get-ChildItem -LiteralPath $dest -File | ForEach-Object { Get-Content -LiteralPath $_.FullName -Raw }) | Sort-Object | Should -Be @('x', 'y')
        }
        finally { Close-GuestDisk $d }
    }

    It 'the saved appliance is private: directory 0700, every file 0600' {
        $parent = if ($env:LIBGUESTFS_CACHEDIR) { $env:LIBGUESTFS_CACHEDIR } elseif ($env:TMPDIR) { $env:TMPDIR } else { '/var/tmp' }
        $warm = Join-Path $parent ".guestfs-$(id -u)/warm"
        $saved = @(Get-ChildItem $warm -Directory | Where-Object { Test-Path (Join-Path $_.FullName 'ok') })
        $saved.Count | Should -BeGreaterThan 0 -Because 'the test run prepares a saved appliance first'
        foreach ($dir in $saved) {
            [IO.File]::GetUnixFileMode($dir.FullName) | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite, UserExecute')
            foreach ($f in Get-ChildItem $dir.FullName -File) {
                [IO.File]::GetUnixFileMode($f.FullName) | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite') -Because $f.Name
            }
        }
    }
}
