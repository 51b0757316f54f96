# Warm relaunch (docs/warm.md): a restored saved appliance must behave exactly like a
# booted one, sessions restored at once must stay apart, and anything wrong with the
# saved appliance must end in a cold launch that says why, never in an error.

Describe 'Warm relaunch gives what a cold launch gives' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-warm-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $script:warm = Open-GuestDisk -Path (New-GuestFsTestOverlay $work 'warm.qcow2') -Writable -Label warm
        $script:cold = Open-GuestDisk -Path (New-GuestFsTestOverlay $work 'cold.qcow2') -Writable -Label cold -ColdStart

        # The same dozen calls on a disk; results as comparable text.
        $script:Probe = {
            param($d)
            $r = [ordered]@{}
            $r.devices = Invoke-GuestFsApi -Disk $d list_devices
            $r.partitions = Invoke-GuestFsApi -Disk $d list_partitions
            $r.filesystems = Get-GuestFileSystem -Disk $d | ForEach-Object { "$($_.Device)=$($_.Type)" }
            $r.vfs = Invoke-GuestFsApi -Disk $d vfs_type -mountable /dev/sda1
            $r.label = Invoke-GuestFsApi -Disk $d vfs_label -mountable /dev/sda1
            $r.uuid = Invoke-GuestFsApi -Disk $d vfs_uuid -mountable /dev/sda1
            $r.size = Invoke-GuestFsApi -Disk $d blockdev_getsize64 -device /dev/sda
            $r.parttype = Invoke-GuestFsApi -Disk $d part_get_parttype -device /dev/sda
            $r.partlist = Invoke-GuestFsApi -Disk $d part_list -device /dev/sda | ForEach-Object { "$($_.PartNum):$($_.PartStart):$($_.PartSize)" }
            $r.inspect = @(Invoke-GuestFsApi -Disk $d inspect_os)
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
            $r.listing = Get-GuestChildItem -Disk $d /etc, /data/small -Recurse | ForEach-Object { "$($_.FullName)|$($_.Length)|$($_.Mode)" }
            $r.content = Get-GuestContent -Disk $d /etc/hostname -Raw
            Set-GuestContent -Disk $d /written.txt -Value 'round trip'
            $r.readback = Get-GuestContent -Disk $d /written.txt -Raw
            $r.checksum = Invoke-GuestFsApi -Disk $d checksum -csumtype sha256 -path /data/big.bin
            $r.errno = try { Invoke-GuestFsApi -Disk $d statns -Arguments @{ path = '/nope' } -ErrorAction Stop } catch { "$($_.CategoryInfo.Category): $($_.Exception.Message)" }
            $r | ConvertTo-Json -Depth 4
        }
    }
    AfterAll {
        $warm, $cold | Where-Object { $_ } | Close-GuestDisk
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }

    It 'restores by default, boots cold on request, and reports its stages' {
        $warm.LaunchMode | Should -Be 'warm'
        $warm.WarmFallbackReason | Should -BeNullOrEmpty
        $warm.LaunchStages.Keys | Should -Contain 'warm-restore'
        $warm.LaunchStages.Keys | Should -Contain 'warm-first-reply'
        $warm.LaunchStages.Keys | Should -Contain 'warm-hotplug'
        $cold.LaunchMode | Should -Be 'cold'
        $cold.WarmFallbackReason | Should -Match 'cold start requested'
    }

    It 'answers the same dozen calls identically' {
        $w = & $Probe $warm
        $c = & $Probe $cold
        $w | Should -Be $c
        ($w | ConvertFrom-Json).devices | Should -Be '/dev/sda'
        ($w | ConvertFrom-Json).errno | Should -Match 'No such file'
    }

    It 'sets the restored guest clock to now (new files get current times)' {
        Set-GuestContent -Disk $warm /clock.txt -Value 'now'
        $t = (Get-GuestItem -Disk $warm /clock.txt).LastWriteTime
        ([datetime]::Now - $t).Duration().TotalMinutes | Should -BeLessThan 5
    }
}

Describe 'Several warm sessions at once' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-warm3-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $script:sessions = foreach ($i in 1..3) {
            $s = [GuestFs.Engine.Session.GuestSession]::new([GuestFs.Engine.Session.GuestSessionOptions]::FromEnvironment())
            $null = $s.AddDrive((New-GuestFsTestOverlay $work "s$i.qcow2"), [GuestFs.Engine.Session.DriveOptions]@{ Format = 'qcow2'; ReadOnly = $false })
            $s
        }
        # Restore all three at the same time.
        [Threading.Tasks.Task]::WaitAll([Threading.Tasks.Task[]]@($sessions | ForEach-Object { $_.LaunchAsync() }))
    }
    AfterAll {
        $sessions | ForEach-Object { $_.Dispose() }
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }

    It 'each sees only its own disk' {
        foreach ($i in 0..2) {
            $s = $sessions[$i]
            $s.LaunchMode | Should -Be 'warm'
            $s.ListDevices() | Should -Be @('/dev/sda')
            $s.Mount('/dev/sda1', '/')
            $s.WriteAsync("/who", [ReadOnlyMemory[byte]][Text.Encoding]::UTF8.GetBytes("session $i")).GetAwaiter().GetResult()
        }
        foreach ($i in 0..2) {
            [Text.Encoding]::UTF8.GetString($sessions[$i].ReadFileAsync('/who').GetAwaiter().GetResult()) | Should -Be "session $i"
        }
    }

    It 'one killed in the middle of a call leaves the other two working' {
        $victim = $sessions[1]
        $calls = $victim.CallCount
        $call = $victim.SleepAsync(30)
        # Wait until the call is on its way (counted as sent), not for a fixed time.
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ($victim.CallCount -eq $calls -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
        $victim.CallCount | Should -BeGreaterThan $calls
        $call.IsCompleted | Should -BeFalse -Because 'the 30 s sleep must still be running when qemu is killed'
        $victim.KillSubprocessForTesting()
        { $call.GetAwaiter().GetResult() } | Should -Throw
        $victim.State | Should -Be 'Config'
        # The same session launches again (a new appliance) and works.
        $victim.Launch()
        $victim.State | Should -Be 'Ready'
        $victim.ListDevices() | Should -Be @('/dev/sda')
        [Text.Encoding]::UTF8.GetString($sessions[0].ReadFileAsync('/who').GetAwaiter().GetResult()) | Should -Be 'session 0'
        [Text.Encoding]::UTF8.GetString($sessions[2].ReadFileAsync('/who').GetAwaiter().GetResult()) | Should -Be 'session 2'
    }
}

Describe 'A damaged or stale saved appliance falls back to a cold launch' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-warmfb-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory "$work/appliance", "$work/cache" | Out-Null
        # A private fixed appliance (links to the built one) and a private cache, so
        # damaging the saved appliance here cannot disturb other suites.
        $cacheParent = if ($env:LIBGUESTFS_CACHEDIR) { $env:LIBGUESTFS_CACHEDIR } elseif ($env:TMPDIR) { $env:TMPDIR } else { '/var/tmp' }
        $built = "$cacheParent/.guestfs-$(id -u)/appliance.d"
        foreach ($f in 'kernel', 'initrd', 'root') { New-Item -ItemType SymbolicLink -Path "$work/appliance/$f" -Target "$built/$f" | Out-Null }
        Set-Content "$work/appliance/README.fixed" 'fixed appliance for the warm fallback tests'
        $script:saved = @{ }
        foreach ($v in 'LIBGUESTFS_PATH', 'LIBGUESTFS_CACHEDIR') { $saved[$v] = [Environment]::GetEnvironmentVariable($v) }
        $env:LIBGUESTFS_PATH = "$work/appliance"
        $env:LIBGUESTFS_CACHEDIR = "$work/cache"
        $script:base = Get-GuestFsBaseImage
        $script:qemuBefore = Get-QemuProcessIds
        function script:Open-Logged {
            $log = Open-GuestDisk -Path $base -Verbose 4>&1
            $d = $log | Where-Object { $_ -is [GuestFs.PowerShell.GuestDisk] }
            $text = ($log | Where-Object { $_ -is [Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n"
            [pscustomobject]@{ Disk = $d; Verbose = $text }
        }
        function script:Get-SavedDir { Get-ChildItem "$work/cache/.guestfs-$(id -u)/warm" -Directory -ErrorAction SilentlyContinue | Where-Object Name -notmatch '\.' }
    }
    AfterAll {
        Get-GuestDisk | Close-GuestDisk
        foreach ($v in $saved.Keys) { [Environment]::SetEnvironmentVariable($v, $saved[$v]) }
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }

    It 'saves an appliance on first use and restores it' {
        $r = Open-Logged
        $r.Disk.LaunchMode | Should -Be 'warm'
        $r.Verbose | Should -Match 'warm: saving an appliance'
        @(Get-SavedDir).Count | Should -Be 1
        [int](Get-Item (Get-SavedDir).FullName).UnixFileMode | Should -Be ([Convert]::ToInt32('700', 8))
        Close-GuestDisk $r.Disk
    }

    It 'a truncated state file: cold launch, reason in the verbose stream, the saved appliance discarded' {
        $state = Join-Path (Get-SavedDir).FullName 'state'
        $bytes = [IO.File]::ReadAllBytes($state)
        [IO.File]::WriteAllBytes($state, $bytes[0..($bytes.Length / 2)])
        $r = Open-Logged
        $r.Disk.LaunchMode | Should -Be 'cold'
        $r.Disk.WarmFallbackReason | Should -Match 'warm relaunch failed'
        $r.Verbose | Should -Match 'warm relaunch failed, booting cold'
        (Invoke-GuestFsApi -Disk $r.Disk list_devices) | Should -Be '/dev/sda'
        @(Get-SavedDir).Count | Should -Be 0
        Close-GuestDisk $r.Disk
    }

    It 'a stale saved appliance (built from something else) is never used: a new one is saved' {
        $r = Open-Logged   # saves a fresh one again
        $r.Disk.LaunchMode | Should -Be 'warm'
        Close-GuestDisk $r.Disk
        Set-Content -Path (Join-Path (Get-SavedDir).FullName 'ok') -Value ('0' * 64) -NoNewline
        $r = Open-Logged
        $r.Verbose | Should -Match 'stale'
        $r.Disk.LaunchMode | Should -Be 'warm'
        Close-GuestDisk $r.Disk
    }

    It 'a foreign state stream: cold launch with the reason' {
        $state = Join-Path (Get-SavedDir).FullName 'state'
        $junk = [byte[]]::new((Get-Item $state).Length); [Random]::new(5).NextBytes($junk)
        [IO.File]::WriteAllBytes($state, $junk)
        $r = Open-Logged
        $r.Disk.LaunchMode | Should -Be 'cold'
        $r.Disk.WarmFallbackReason | Should -Not -BeNullOrEmpty
        Close-GuestDisk $r.Disk
    }

    It 'cancelling during the restore leaves no qemu and no temp dir, and the next launch works' {
        $null = Open-Logged | ForEach-Object { Close-GuestDisk $_.Disk }  # make sure a saved appliance exists
        $s = [GuestFs.Engine.Session.GuestSession]::new([GuestFs.Engine.Session.GuestSessionOptions]::FromEnvironment())
        $null = $s.AddDrive($base, [GuestFs.Engine.Session.DriveOptions]@{ Format = 'raw' })
        $tempDirs = { @(Get-ChildItem ([IO.Path]::GetTempPath()) -Directory -Filter 'guestfs-*' -ErrorAction SilentlyContinue).Count }
        $before = & $tempDirs
        $cts = [Threading.CancellationTokenSource]::new()
        # The saved appliance exists, so qemu starts within a few tens of ms and the
        # restore + first reply take a few hundred: cancel in between.
        $cts.CancelAfter(200)
        $err = try { $s.LaunchAsync($cts.Token).GetAwaiter().GetResult(); $null } catch { $_.Exception.GetBaseException() }
        $err | Should -BeOfType ([OperationCanceledException])
        $s.State | Should -Be 'Config'
        $s.TempDirectory | Should -BeNullOrEmpty
        & $tempDirs | Should -Be $before
        $s.Launch()
        $s.LaunchMode | Should -Be 'warm'
        $s.Dispose()
        @(Get-QemuProcessIds | Where-Object { $_ -notin $qemuBefore -and (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) | Should -BeNullOrEmpty
    }
}
