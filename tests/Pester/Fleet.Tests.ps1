# Fleets of images: many images on one host (-Path, -ThrottleLimit), and many "hosts"
# over PowerShell remoting (two OpenSSH servers on loopback started by the test, pwsh from
# the tool manifest as their powershell subsystem). Images are qcow2 overlays of the cached
# Debian 12 image (and of the base image, which holds no operating system).
BeforeDiscovery {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    $script:debianProblem = Get-GuestFsDebianImageProblem
    $script:sshProblem = if (-not (Test-Path /usr/sbin/sshd)) { 'openssh-server is not installed (build.ps1 -Task Bootstrap installs it as root)' }
    elseif ((& id -u) -ne '0') { 'the loopback SSH servers of this test log in as root; run the tests as root' }
    elseif ($debianProblem) { $debianProblem }
}

Describe 'Many images on one host' -Tag 'Appliance', 'Fleet' -Skip:($null -ne $debianProblem) {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/GuestImages.ps1
        $debian = Get-GuestFsDebianImage
        $script:dir = Join-Path $TestDrive 'fleet'
        New-Item -ItemType Directory -Path $dir | Out-Null
        # Four images: each inventory inspects every one (about 20 s each under TCG).
        1..4 | ForEach-Object { & qemu-img create -q -f qcow2 -F raw -b $debian (Join-Path $dir ('vm{0:00}.qcow2' -f $_)) }
        function Get-Summary($results) { @($results | Sort-Object ImagePath, Root | ForEach-Object { '{0}|{1}|{2}|{3}|{4}' -f (Split-Path -Leaf $_.ImagePath), $_.Root, $_.Hostname, $_.ProductName, $_.Architecture }) -join "`n" }
    }
    AfterAll { Close-GuestDisk -All }

    It 'gives the same results with -ThrottleLimit 1 and 3 (more sessions than cores), and says which throttle it chose' {
        $one = Get-GuestOSInfo -Path "$dir/*.qcow2" -ThrottleLimit 1
        @($one).Count | Should -Be 4
        $three = Get-GuestOSInfo -Path "$dir/*.qcow2" -ThrottleLimit 3
        Get-Summary $three | Should -BeExactly (Get-Summary $one)
        $one | ForEach-Object { $_.Hostname | Should -Be 'gfs-debian' }
        $verbose = Get-GuestOSInfo -Path "$dir/vm01.qcow2" -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match '1 image\(s\), 1 at a time \(default \d+, from \d+ core\(s\), [\d,]+ MB available'
        Get-GuestDisk | Should -BeNullOrEmpty -Because 'the per-image sessions are closed'
    }

    It 'reports a failing image as a non-terminating error naming it; the others complete' {
        $empty = Join-Path $dir 'empty.img'
        New-Item -ItemType File -Path $empty | Out-Null
        $noOs = New-GuestFsTestOverlay -Directory $dir -Name 'no-os.qcow2'
        $r = Get-GuestOSInfo -LiteralPath (Join-Path $dir 'vm01.qcow2'), $empty, $noOs, (Join-Path $dir 'vm02.qcow2') -ThrottleLimit 2 -ErrorVariable errs -ErrorAction SilentlyContinue
        @($r).Count | Should -Be 2
        ($r.ImagePath | Split-Path -Leaf | Sort-Object) | Should -Be @('vm01.qcow2', 'vm02.qcow2')
        $errs.Count | Should -Be 2
        ($errs | Where-Object TargetObject -eq $empty).Exception.Message | Should -Match 'empty'
        ($errs | Where-Object TargetObject -eq $noOs).FullyQualifiedErrorId | Should -Match '^NoOperatingSystem'
        ($errs | Where-Object TargetObject -eq $noOs).ToString() | Should -Match 'no-os.qcow2'
        Remove-Item $empty, $noOs
    }

    It 'Get-GuestFileSystem -Path lists every image''s filesystems with its ImagePath, from the pipeline too' {
        $fs = Get-ChildItem "$dir/vm0[1-3].qcow2" | Get-GuestFileSystem -ThrottleLimit 3
        ($fs | Group-Object ImagePath).Count | Should -Be 3
        ($fs | Where-Object Device -eq '/dev/sda2').Type | Should -Be @('ext4', 'ext4', 'ext4')
    }

    It 'its results keep their properties and their views once serialised (as over remoting)' {
        $live = Get-GuestOSInfo -Path "$dir/vm01.qcow2" -IncludeApplications
        $back = [Management.Automation.PSSerializer]::Deserialize([Management.Automation.PSSerializer]::Serialize($live))
        $back.PSObject.TypeNames[0] | Should -Be 'Deserialized.GuestFs.Engine.Library.GuestOSInfo'
        $back.ImagePath | Should -Be $live.ImagePath
        $back.Hostname | Should -Be 'gfs-debian'
        ($back.Mountpoints | Where-Object MountPoint -eq '/').Device | Should -Be $live.Mountpoints['/']
        @($back.Applications).Count | Should -Be @($live.Applications).Count
        @($back.Applications)[0].Name | Should -Be @($live.Applications)[0].Name -Because 'applications stay objects (SerializationDepth 2)'
        ($back | Out-String) | Should -BeExactly ($live | Out-String)
        $fs = Get-GuestFileSystem -Path "$dir/vm01.qcow2"
        $fsBack = [Management.Automation.PSSerializer]::Deserialize([Management.Automation.PSSerializer]::Serialize($fs))
        ($fsBack | Out-String) | Should -BeExactly ($fs | Out-String)
    }

    It 'Copy-GuestItem -ImagePath copies the same files out of many images, one directory per image' {
        $out = Join-Path $TestDrive 'collected'
        $r = Copy-GuestItem -ImagePath "$dir/vm0[1-3].qcow2" -Path /etc/hostname, /etc/os-rel* -Destination $out -ThrottleLimit 2 -PassThru
        (Get-ChildItem $out -Directory).Name | Sort-Object | Should -Be @('vm01', 'vm02', 'vm03')
        foreach ($vm in 'vm01', 'vm02', 'vm03') {
            Get-Content -Raw "$out/$vm/hostname" | Should -Be "gfs-debian`n"
            Test-Path "$out/$vm/os-release" | Should -BeTrue
        }
        @($r).Count | Should -Be 6
        ($r | Group-Object ImagePath).Count | Should -Be 3
        # A directory needs -Recurse, and a missing path is an error for that image.
        Copy-GuestItem -ImagePath "$dir/vm01.qcow2" -Path /etc/apt -Destination $out -ErrorVariable e1 -ErrorAction SilentlyContinue
        $e1[0].FullyQualifiedErrorId | Should -Match '^DirectoryNeedsRecurse'
        Copy-GuestItem -ImagePath "$dir/vm01.qcow2" -Path /etc/apt -Destination $out -Recurse
        Test-Path "$out/vm01/apt/sources.list.d" | Should -BeTrue
        Copy-GuestItem -ImagePath "$dir/vm02.qcow2" -Path /nope* -Destination $out -ErrorVariable e2 -ErrorAction SilentlyContinue
        $e2[0].TargetObject | Should -Be (Join-Path $dir 'vm02.qcow2')
        Copy-GuestItem -ImagePath "$dir/vm03.qcow2" -Path /etc/hostname -Destination (Join-Path $TestDrive 'whatif') -WhatIf
        Test-Path (Join-Path $TestDrive 'whatif') | Should -BeFalse
    }

    It 'sessions are safe under ForEach-Object -Parallel' {
        $images = @(Get-ChildItem "$dir/vm0[1-4].qcow2").FullName
        $module = $script:ModulePath
        $r = $images | ForEach-Object -ThrottleLimit 4 -Parallel {
            Import-Module $using:module
            $image = $_
            $d = Open-GuestDisk -Path $image
            try { Get-GuestOSInfo -Disk $d | Select-Object @{ n = 'Image'; e = { Split-Path -Leaf $image } }, Root, Hostname }
            finally { Close-GuestDisk -Disk $d }
        }
        @($r).Count | Should -Be 4
        ($r.Image | Sort-Object) | Should -Be @('vm01.qcow2', 'vm02.qcow2', 'vm03.qcow2', 'vm04.qcow2')
        $r.Hostname | Sort-Object -Unique | Should -Be 'gfs-debian'
    }

    It 'parallel runspaces that each open one disk use it without -Disk; Close-GuestDisk -All closes only its own' {
        $images = @(Get-ChildItem "$dir/vm0[1-2].qcow2").FullName
        $module = $script:ModulePath
        $mine = Open-GuestDisk -Path (Join-Path $dir 'vm03.qcow2')
        try {
            $r = $images | ForEach-Object -ThrottleLimit 2 -Parallel {
                Import-Module $using:module
                Open-GuestDisk -Path $_ | Out-Null
                try { (Get-GuestOSInfo).Hostname } finally { Close-GuestDisk -All }
            }
            $r | Should -Be @('gfs-debian', 'gfs-debian')
            $mine.State | Should -Be 'Ready' -Because 'Close-GuestDisk -All in another runspace leaves this runspace''s session open'
            (Get-GuestOSInfo).Hostname | Should -Be 'gfs-debian'
        }
        finally { Close-GuestDisk -Disk $mine }
    }

    It 'a record that stops the command (-ErrorAction Stop) stops every session with it' {
        function Get-OwnQemu { @(Get-QemuProcessIds | Where-Object { (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) }
        $empty = Join-Path $TestDrive 'a-empty.img'
        New-Item -ItemType File -Path $empty | Out-Null
        { Get-GuestOSInfo -LiteralPath $empty, (Join-Path $dir 'vm01.qcow2'), (Join-Path $dir 'vm02.qcow2') -ThrottleLimit 3 -ErrorAction Stop } | Should -Throw '*empty*'
        # The other two were launching when the error stopped the command: none may be running
        # now, and none may start later (watched for 3 s, failing at the first one seen).
        $deadline = [DateTime]::UtcNow.AddSeconds(3)
        do {
            Get-OwnQemu | Should -BeNullOrEmpty -Because 'no session of a stopped command may start qemu'
            Start-Sleep -Milliseconds 100
        } while ([DateTime]::UtcNow -lt $deadline)
    }

    It 'Ctrl+C stops every running session and leaves no qemu and no temp dir' {
        $before = @(Get-QemuProcessIds)
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$script:ModulePath'; Get-GuestOSInfo -Path '$dir/*.qcow2' -ThrottleLimit 2")
        $h = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        function Get-OwnNewQemu { @(Get-QemuProcessIds | Where-Object { $_ -notin $before -and (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) }
        while ((Get-OwnNewQemu).Count -lt 2 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        (Get-OwnNewQemu).Count | Should -Be 2 -Because 'two sessions (-ThrottleLimit 2) run when Ctrl+C comes'
        # The running sessions' private temp dirs, from their qemu command lines.
        $sessionDirs = @(Get-OwnNewQemu | ForEach-Object {
                $c = [IO.File]::ReadAllText("/proc/$_/cmdline")
                if ($c -match '(/[^\x00]*?/guestfs-[a-z0-9]+)/') { $Matches[1] }
            })
        $sessionDirs.Count | Should -Be 2
        $h.IsCompleted | Should -BeFalse
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
        $ps.Dispose()
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while (@(Get-QemuProcessIds | Where-Object { $_ -notin $before }).Count -gt 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        @(Get-QemuProcessIds | Where-Object { $_ -notin $before }) | Should -BeNullOrEmpty
        @($sessionDirs | Where-Object { Test-Path $_ }) | Should -BeNullOrEmpty
    }
}

Describe 'A fleet of hosts over PowerShell remoting (SSH)' -Tag 'Appliance', 'Fleet', 'Remoting' -Skip:($null -ne $sshProblem) {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/GuestImages.ps1
        $debian = Get-GuestFsDebianImage
        $script:root = Join-Path ([IO.Path]::GetTempPath()) ("gfs-fleet-ssh-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory -Path $root | Out-Null
        & ssh-keygen -q -t ed25519 -N '' -f "$root/hostkey" | Out-Null
        & ssh-keygen -q -t ed25519 -N '' -f "$root/clientkey" | Out-Null
        Copy-Item "$root/clientkey.pub" "$root/authorized_keys"
        if (-not (Test-Path /run/sshd)) { New-Item -ItemType Directory -Path /run/sshd | Out-Null }
        # The powershell subsystem: pwsh of the tool manifest, run by the same dotnet.
        $dotnet = [Environment]::ProcessPath
        $pwshDll = "$PSHOME/pwsh.dll"
        Set-Content -Path "$root/pwsh-subsystem" -Value "#!/bin/sh`nexec '$dotnet' '$pwshDll' `"`$@`"`n"
        & chmod 0755 "$root/pwsh-subsystem"

        function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
        # One "host": its own sshd on a free loopback port, its own image directory and
        # environment (SetEnv), as a real hypervisor host has its own /images.
        function Start-TestHost([string] $Name, [hashtable] $Environment = @{}) {
            $h = [pscustomobject]@{ Name = $Name; Port = (Get-FreePort); Images = "$root/$Name/images"; Modules = "$root/$Name/modules"; Process = $null }
            New-Item -ItemType Directory -Path $h.Images, $h.Modules | Out-Null
            $envLine = (@("GFS_IMAGES=$($h.Images)", "GFS_MODULES=$($h.Modules)") + @($Environment.GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" })) -join ' '
            @(
                "Port $($h.Port)", 'ListenAddress 127.0.0.1', "HostKey $root/hostkey", "PidFile $root/$Name.pid",
                "AuthorizedKeysFile $root/authorized_keys", 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
                'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no',
                "SetEnv $envLine", "Subsystem powershell $root/pwsh-subsystem -sshs -NoLogo -NoProfile", 'LogLevel ERROR'
            ) | Set-Content "$root/$Name.sshd_config"
            $psi = [Diagnostics.ProcessStartInfo]::new('/usr/sbin/sshd')
            foreach ($a in '-D', '-e', '-f', "$root/$Name.sshd_config") { $psi.ArgumentList.Add($a) }
            $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
            $h.Process = [Diagnostics.Process]::Start($psi)
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while ([DateTime]::UtcNow -lt $deadline) {
                try { $c = [Net.Sockets.TcpClient]::new('127.0.0.1', $h.Port); $c.Dispose(); return $h } catch { Start-Sleep -Milliseconds 100 }
            }
            throw "sshd for $Name did not start: $($h.Process.StandardError.ReadToEnd())"
        }
        function Get-ProcessTree([int] $Id) {
            $kids = @(Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -match '^\d+$' | ForEach-Object {
                    $stat = Get-Content "/proc/$($_.Name)/stat" -ErrorAction SilentlyContinue
                    if ($stat -match '^\d+ \(.*\) \S (\d+) ' -and [int]$Matches[1] -eq $Id) { [int]$_.Name }
                })
            $Id; foreach ($k in $kids) { Get-ProcessTree $k }
        }
        function Stop-TestHost($h) {
            if (-not $h -or -not $h.Process) { return }
            $tree = @(Get-ProcessTree $h.Process.Id)
            foreach ($p in $tree) { try { [Diagnostics.Process]::GetProcessById($p).Kill() } catch { } }
            $h.Process.WaitForExit(5000) | Out-Null
        }
        # user@host:port names one "host"; localhost and 127.0.0.1 give the two hosts distinct
        # PSComputerName values. (-SSHConnection hashtables time out at once in pwsh 7.6
        # unless ConnectingTimeout is given; -HostName is the documented pattern anyway.)
        function Connect($h, [string] $HostName) { "root@${HostName}:$($h.Port)" }
        $script:ssh = @{ KeyFilePath = "$root/clientkey"; Options = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' } }

        $script:hostA = Start-TestHost 'hostA'
        $script:hostB = Start-TestHost 'hostB'
        # Two images on each host.
        foreach ($h in $hostA, $hostB) { 1..2 | ForEach-Object { & qemu-img create -q -f qcow2 -F raw -b $debian (Join-Path $h.Images "$($h.Name)-vm$_.qcow2") } }
        $script:connA = Connect $hostA 'localhost'
        $script:connB = Connect $hostB '127.0.0.1'
        # Deploy the module the documented way: Copy-Item -ToSession, into each host's module directory.
        $moduleDir = Split-Path -Parent $script:ModulePath
        foreach ($pair in @(@($hostA, $connA), @($hostB, $connB))) {
            $s = New-PSSession -HostName $pair[1] @ssh
            try { Copy-Item -Path $moduleDir -Destination $pair[0].Modules -ToSession $s -Recurse }
            finally { Remove-PSSession $s }
        }
        $script:inventory = {
            param([int] $DelaySeconds = 0)
            Import-Module "$env:GFS_MODULES/GuestFs/GuestFs.psd1"
            New-Item -ItemType File -Path "$env:GFS_IMAGES/.started" -Force | Out-Null
            Start-Sleep -Seconds $DelaySeconds
            Get-GuestOSInfo -Path "$env:GFS_IMAGES/*.qcow2" -ThrottleLimit 2
        }
        $script:qemuBefore = @(Get-QemuProcessIds)
    }
    AfterAll {
        Stop-TestHost $hostA
        Stop-TestHost $hostB
        Get-PSSession | Remove-PSSession
        Remove-Item -Recurse -Force $root -ErrorAction SilentlyContinue
    }

    It 'inventories four images on two hosts into one table with PSComputerName' {
        $r = Invoke-Command -HostName $connA, $connB @ssh -ScriptBlock $inventory
        @($r).Count | Should -Be 4
        ($r | Group-Object PSComputerName | Sort-Object Name | ForEach-Object { "$($_.Name)=$($_.Count)" }) | Should -Be @('127.0.0.1=2', 'localhost=2')
        ($r | Where-Object PSComputerName -eq 'localhost').ImagePath | Split-Path -Leaf | Sort-Object | Should -Be @('hostA-vm1.qcow2', 'hostA-vm2.qcow2')
        $r[0].PSObject.TypeNames[0] | Should -Be 'Deserialized.GuestFs.Engine.Library.GuestOSInfo'
        $r | ForEach-Object { $_.Hostname | Should -Be 'gfs-debian'; ($_.Mountpoints | Where-Object MountPoint -eq '/').Device | Should -Not -BeNullOrEmpty -Because 'mount points arrive as records over remoting' }
        # Deserialised objects use the same views as live ones.
        $text = $r | Out-String
        $text | Should -Match 'Distro\s+: debian'
        $text | Should -Match 'PSComputerName\s+: localhost'
        ($r | Format-Table | Out-String) | Should -Match 'Root\s'
    }

    It 'a host stopped in the middle of the run gives errors for that host only' {
        Remove-Item "$($hostB.Images)/.started" -Force -ErrorAction SilentlyContinue
        Test-Path "$($hostB.Images)/.started" | Should -BeFalse
        $job = Invoke-Command -HostName $connA, $connB @ssh -ScriptBlock $inventory -ArgumentList 4 -AsJob
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not (Test-Path "$($hostB.Images)/.started") -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Test-Path "$($hostB.Images)/.started" | Should -BeTrue
        Stop-TestHost $hostB
        $hostB.Process.HasExited | Should -BeTrue
        $null = Wait-Job $job -Timeout 120
        $r = Receive-Job $job -ErrorVariable errs -ErrorAction SilentlyContinue
        @($r).Count | Should -Be 2
        $r.PSComputerName | Sort-Object -Unique | Should -Be 'localhost'
        @($errs).Count | Should -BeGreaterThan 0
        ($job.ChildJobs | Where-Object Location -eq '127.0.0.1').State | Should -Be 'Failed'
        ($job.ChildJobs | Where-Object Location -eq 'localhost').State | Should -Be 'Completed'
        Remove-Job $job -Force
    }

    It 'a host without a working qemu gives an error for each of its images while the other host completes' {
        $script:hostB = Start-TestHost 'hostB2' @{ LIBGUESTFS_HV = '/nonexistent/qemu-system-x86_64' }
        1..2 | ForEach-Object { & qemu-img create -q -f qcow2 -F raw -b (Get-GuestFsDebianImage) (Join-Path $hostB.Images "hostB2-vm$_.qcow2") }
        $connB2 = Connect $hostB '127.0.0.1'
        $s = New-PSSession -HostName $connB2 @ssh
        try { Copy-Item -Path (Split-Path -Parent $script:ModulePath) -Destination $hostB.Modules -ToSession $s -Recurse }
        finally { Remove-PSSession $s }
        $r = Invoke-Command -HostName $connA, $connB2 @ssh -ScriptBlock $inventory -ErrorVariable errs -ErrorAction SilentlyContinue
        @($r).Count | Should -Be 2
        $r.PSComputerName | Sort-Object -Unique | Should -Be 'localhost'
        $hostErrors = @($errs | Where-Object { $_.OriginInfo.PSComputerName -eq '127.0.0.1' })
        $hostErrors.Count | Should -Be 2
        $hostErrors | ForEach-Object { $_.ToString() | Should -Match 'hostB2-vm\d\.qcow2' }
        $hostErrors | ForEach-Object { $_.ToString() | Should -Match 'qemu' }
    }

    It 'leaves nothing running on the hosts' {
        Stop-TestHost $hostA
        Stop-TestHost $hostB
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        # The hosts' qemu processes carry the hosts' environment (GFS_IMAGES under $root);
        # other qemu processes on the machine do not count.
        function Get-HostQemu { @(Get-QemuProcessIds | Where-Object { $_ -notin $qemuBefore } | Where-Object {
                    try { [IO.File]::ReadAllText("/proc/$_/environ") -match [regex]::Escape("GFS_IMAGES=$root") } catch { $false } }) }
        while ((Get-HostQemu).Count -gt 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        Get-HostQemu | Should -BeNullOrEmpty
        @(Get-Process -Name sshd -ErrorAction SilentlyContinue | Where-Object { $_.Id -in @($hostA.Process.Id, $hostB.Process.Id) }) | Should -BeNullOrEmpty
    }
}
