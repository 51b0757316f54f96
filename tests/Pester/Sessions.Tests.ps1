# Open-GuestDisk, Get-GuestDisk, Close-GuestDisk: two read-only sessions (two launches).
Describe 'Guest disk sessions' -Tag 'Appliance' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:base = Get-GuestFsBaseImage
        $script:qemuBefore = Get-QemuProcessIds
        $script:d1 = Open-GuestDisk -Path $base -Label first -Accelerator Tcg
        $script:d2 = $base | Open-GuestDisk -Label second
    }
    AfterAll {
        Get-GuestDisk | Close-GuestDisk
    }

    It 'opens read-only by default and describes the session' {
        $d1.ReadOnly | Should -BeTrue
        $d1.State | Should -Be 'Ready'
        $d1.Paths | Should -Be @($base)
        $d1.Devices | Should -Be @('/dev/sda')
        $d1.Accelerator | Should -Be 'Tcg'
        $d1.LaunchTime.TotalSeconds | Should -BeGreaterThan 0
        $d1.ProcessId | Should -BeGreaterThan 0
        $d1.Label | Should -Be 'first'
    }

    It 'Auto picks an accelerator and says why' {
        $d2.Accelerator | Should -BeIn @('Kvm', 'Tcg')
        $d2.AcceleratorReason | Should -Not -BeNullOrEmpty
    }

    It 'lists open sessions, filtered by id and label' {
        (Get-GuestDisk).Id | Should -Be @($d1.Id, $d2.Id)
        (Get-GuestDisk -Id $d2.Id).Label | Should -Be 'second'
        (Get-GuestDisk -Label fir*).Id | Should -Be $d1.Id
    }

    It 'an unknown id is a non-terminating ObjectNotFound error, even beside a known one' {
        (Get-GuestDisk -Id $d1.Id, 99999 -ErrorVariable err -ErrorAction SilentlyContinue).Id | Should -Be $d1.Id
        $err[0].FullyQualifiedErrorId | Should -Be 'GuestDiskNotFound,GuestFs.PowerShell.Commands.GetGuestDiskCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'with two sessions open, a cmdlet without -Disk fails clearly' {
        { Get-GuestFileSystem } | Should -Throw -ErrorId 'AmbiguousGuestDisk,GuestFs.PowerShell.Commands.GetGuestFileSystemCommand'
    }

    It '-Disk binds from the pipeline by property name' {
        $fs = $d2 | Get-GuestFileSystem
        $fs.Device | Should -Be '/dev/sda1'
        $fs.Type | Should -Be 'ext4'
        $fs.Label | Should -Be 'gfsbase'
    }

    It 'refuses writes on a read-only session and says how to open it writable' {
        Mount-GuestFs -Disk $d2 -Device /dev/sda1 -MountPoint /
        Set-GuestContent -Disk $d2 -Path /etc/motd -Value 'changed' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'GuestDiskReadOnly,GuestFs.PowerShell.Commands.SetGuestContentCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $err[0].Exception.Message | Should -Match '-Writable'
        Get-GuestContent -Disk $d2 -Path /etc/motd | Should -Be 'Welcome'
    }

    It 'closing through the pipeline stops every appliance and forgets the sessions' {
        $pids = @($d1.ProcessId, $d2.ProcessId)
        Get-GuestDisk | Close-GuestDisk
        Get-GuestDisk | Should -BeNullOrEmpty
        $d1.State | Should -Be 'Closed'
        foreach ($p in $pids) { (Get-QemuProcessIds) | Should -Not -Contain $p }
        { Get-GuestFileSystem -Disk $d1 } | Should -Throw -ErrorId 'GuestDiskClosed,GuestFs.PowerShell.Commands.GetGuestFileSystemCommand'
        { Get-GuestFileSystem } | Should -Throw -ErrorId 'NoGuestDiskOpen,GuestFs.PowerShell.Commands.GetGuestFileSystemCommand'
    }
}

Describe 'Opening bad images' -Tag 'Appliance' {
    BeforeAll { . $PSScriptRoot/TestSupport.ps1 }

    It 'a missing path stops the whole open with an ObjectNotFound error naming the image' {
        $real = "$TestDrive/real.img"; [IO.File]::WriteAllBytes($real, [byte[]]::new(1MB))
        $e = { Open-GuestDisk -Path $real, "$TestDrive/missing.img" } | Should -Throw -ErrorId 'DiskImageNotFound,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
        $e.Exception.Message | Should -Match 'missing.img'
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        { Open-GuestDisk -LiteralPath "$TestDrive/missing.img" } | Should -Throw -ErrorId 'DiskImageNotFound,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
        Get-GuestDisk | Should -BeNullOrEmpty
    }

    It 'a directory is refused with advice' {
        { Open-GuestDisk -LiteralPath $TestDrive } | Should -Throw -ErrorId 'AddDriveFailed,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
    }

    It 'a wrong -Format for a raw image fails without launching' {
        $img = "$TestDrive/raw.img"
        [IO.File]::WriteAllBytes($img, [byte[]]::new(1MB))
        { Open-GuestDisk -Path $img -Format qcow2 } | Should -Throw -ErrorId 'LaunchFailed,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
        Get-GuestDisk | Should -BeNullOrEmpty
    }
}

Describe 'Stopping Open-GuestDisk (Ctrl+C)' -Tag 'Appliance' {
    BeforeAll { . $PSScriptRoot/TestSupport.ps1 }

    It 'stops the launch promptly and leaves no qemu and no temp dir' {
        $base = Get-GuestFsBaseImage
        $qemuBefore = Get-QemuProcessIds
        $tmpBefore = @(Get-ChildItem /tmp -Directory -Filter 'guestfs-*' -ErrorAction SilentlyContinue).Name
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$script:ModulePath'; Open-GuestDisk -Path '$base' -ColdStart")  # a boot, to stop in the middle (warm launches: Warm.Tests.ps1)
        $handle = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not ($ps.Streams.Progress | Where-Object StatusDescription -like 'booting*') -and -not $handle.IsCompleted -and [DateTime]::UtcNow -lt $deadline) {
            $handle.AsyncWaitHandle.WaitOne(50) | Out-Null
        }
        $handle.IsCompleted | Should -BeFalse -Because 'the appliance must still be booting when it is stopped'
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
        $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        $ps.Dispose()
        Get-GuestDisk | Should -BeNullOrEmpty
        (Get-QemuProcessIds | Where-Object { $_ -notin $qemuBefore }) | Should -BeNullOrEmpty
        (@(Get-ChildItem /tmp -Directory -Filter 'guestfs-*' -ErrorAction SilentlyContinue).Name | Where-Object { $_ -notin $tmpBefore }) | Should -BeNullOrEmpty
    }
}

Describe 'Choosing the accelerator' -Tag 'Appliance' {
    BeforeAll { . $PSScriptRoot/TestSupport.ps1 }

    It 'forcing KVM where it does not work fails at once with advice, leaving nothing behind' {
        $probe = "/var/tmp/.guestfs-$(id -u)/kvm-probe"
        if (-not (Test-Path /dev/kvm)) { Set-ItResult -Skipped -Because 'this host has no /dev/kvm'; return }
        $qemuBefore = Get-QemuProcessIds
        $sw = [Diagnostics.Stopwatch]::StartNew()
        try {
            $d = Open-GuestDisk -Path (Get-GuestFsBaseImage) -Accelerator Kvm
            # KVM works here: then forcing it must give a KVM session.
            $d.Accelerator | Should -Be 'Kvm'
            Close-GuestDisk -Disk $d
        }
        catch {
            $_.FullyQualifiedErrorId | Should -Be 'LaunchFailed,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
            $_.Exception.Message | Should -Match 'KVM was requested but'
            $_.Exception.Message | Should -Match 'Tcg'
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 15
            (Get-Content $probe -Raw) | Should -Match 'broken'
        }
        (Get-QemuProcessIds | Where-Object { $_ -notin $qemuBefore }) | Should -BeNullOrEmpty
    }
}

Describe 'Debug output in a non-interactive script' -Tag 'Appliance' {
    BeforeAll { . $PSScriptRoot/TestSupport.ps1 }

    It 'logs debug records with $DebugPreference = Continue, without asking "Continue with this operation?"' {
        # PowerShell defines -Debug on a compiled cmdlet as "ask before each debug and
        # warning record" (and with no console that is an error); a script that wants the
        # log sets $DebugPreference = 'Continue'. GuestFs does not change either.
        $script = Join-Path $TestDrive 'debug.ps1'
        Set-Content -Path $script -Value @"
Import-Module '$((Get-Module GuestFs).Path)'
`$DebugPreference = 'Continue'
`$pw = ConvertTo-SecureString 'not-used' -AsPlainText -Force
`$d = Open-GuestDisk -Path '$(Get-GuestFsBaseImage)' -Passphrase `$pw -ErrorAction Stop
Get-GuestFileSystem -Disk `$d | Out-Null
Close-GuestDisk -Disk `$d
'finished'
"@
        $pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { "$PSHOME/pwsh.dll" })
        $out = '' | & ([Environment]::ProcessPath) @pwshArgs -NoProfile -NonInteractive -File $script *>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
        $out | Should -Match 'finished'
        $out | Should -Match 'no encrypted'
        $out | Should -Match 'DEBUG:'
        $out | Should -Not -Match 'NonInteractive mode'
    }
}
