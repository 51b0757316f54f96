# Reset-GuestImage against virt-sysprep on copies of the same dirtied Debian 12 image,
# in the same run: each copy is read back with one "virt-ls -lR --checksum" run and the
# listings are compared entry by entry. The dirt is written by guestfish (the reference),
# not by the code under test. Everything the reference tools do to their own copies runs
# in a background lane (Start-ReferenceLane), started once the dirty image exists, while
# the tests do GuestFs's side in the foreground: two appliances at a time, one per core.
BeforeAll {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    $env:LIBGUESTFS_BACKEND = 'direct'
    if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }
    $script:work = Join-Path '/var/tmp' ("guestfs-reset-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $work | Out-Null

    function Invoke-Reference([string] $Tool, [string[]] $Arguments) {
        $err = [IO.Path]::GetTempFileName()
        try {
            $out = & $Tool @Arguments 2>$err
            if ($LASTEXITCODE -ne 0) { throw "$Tool $($Arguments -join ' ') failed ($LASTEXITCODE): $(Get-Content $err -Raw)" }
            $out
        }
        finally { Remove-Item $err -ErrorAction SilentlyContinue }
    }

    # What virt-ls lists of a Linux copy: the directories virt-sysprep's operations work in
    # (backup-files walks /etc /root /srv /tmp /var; the rest are named by the operations),
    # and /usr/local, where the dirt has a backup file that no operation may touch. One run
    # with checksums takes about a minute here; the whole tree with checksums about five.
    $script:LinuxDirs = @('/etc', '/home', '/root', '/srv', '/tmp', '/usr/local', '/var')

    function Get-ListingArguments([string] $Image, [string[]] $Dirs) { @('--format=raw', '-a', $Image, '-lR', '--checksum') + $Dirs }

    # Every entry under the directories, from one "virt-ls -lR --checksum" run: "- mode size
    # checksum" for files, "d mode" for directories, "type mode target" otherwise.
    function ConvertFrom-Listing([string[]] $Lines) {
        $map = [ordered]@{}
        foreach ($l in $Lines) {
            $f = $l -split '\s+'
            if ($f[0] -eq '-') { $map[$f[4]] = '- {0} {1} {2}' -f $f[1], $f[2], $f[3] }
            elseif ($f[0] -eq 'd') { $map[$f[3]] = 'd {0}' -f $f[1] }
            elseif ($f.Count -ge 4) { $map[$f[3]] = '{0} {1} {2}' -f $f[0], $f[1], ($f[4..($f.Count - 1)] -join ' ') }
        }
        $map
    }
    function Get-Listing([string] $Image, [string[]] $Dirs = $LinuxDirs) {
        ConvertFrom-Listing @(Invoke-Reference virt-ls (Get-ListingArguments $Image $Dirs))
    }

    # Differences between two listings, as text lines (empty when they are equal), leaving out the
    # paths whose content is random by design (compared by the caller).
    function Compare-Listing($A, $B, [string[]] $Random = @(), [string] $NameA = 'virt-sysprep', [string] $NameB = 'Reset-GuestImage') {
        $out = [Collections.Generic.List[string]]::new()
        foreach ($p in $A.Keys) {
            if ($Random -contains $p) { continue }
            if (-not $B.Contains($p)) { $out.Add("only after ${NameA}: $p ($($A[$p]))") }
            elseif ($A[$p] -ne $B[$p]) { $out.Add("differs: $p (${NameA}: $($A[$p]); ${NameB}: $($B[$p]))") }
        }
        foreach ($p in $B.Keys) { if (-not $A.Contains($p) -and $Random -notcontains $p) { $out.Add("only after ${NameB}: $p ($($B[$p]))") } }
        , $out
    }

    # The differences "virt-diff -a A -A B" reports that are more than two separate runs
    # necessarily give: new inode numbers and times ("# changed: st_ino st_mtime_sec …"),
    # a content mark with no diff under it, and virt-customize's own log, /tmp/builder.log;
    # and st_dev, the device number each of virt-diff's two appliances gave the guest's disk,
    # which depends on the order the kernel probed its disks in (seen to differ when other
    # appliances keep the cores busy), not on the guest.
    function Get-RealDifference([string[]] $Lines) {
        $Lines = @($Lines | Where-Object { $_ })
        function PathOf([string] $l) { ($l -split '\s+', 5)[4] }
        $out = [Collections.Generic.List[string]]::new()
        $i = 0
        while ($i -lt $Lines.Count) {
            $l = $Lines[$i]
            if ($l -match '^- ' -and $i + 1 -lt $Lines.Count -and $Lines[$i + 1] -match '^\+ ' -and (PathOf $l) -eq (PathOf $Lines[$i + 1])) {
                $fields = @(); $next = $i + 2
                if ($next -lt $Lines.Count -and $Lines[$next] -match '^# changed: (.*)') { $fields = $Matches[1] -split '\s+'; $next++ }
                $real = @($fields | Where-Object { $_ -and $_ -notmatch '^st_(dev|ino|atime|mtime|ctime)' })
                if ($real.Count -gt 0 -or $fields.Count -eq 0) { $out.Add("$l | $($Lines[$i + 1]) ($($real -join ' '))") }
                $i = $next; continue
            }
            if ($l -match '^= ') {
                $body = [Collections.Generic.List[string]]::new(); $i++
                while ($i -lt $Lines.Count -and $Lines[$i] -ne '@@ End of diff @@') { $body.Add($Lines[$i]); $i++ }
                if ($body.Count -gt 0) { $out.Add("$l`n$($body -join "`n")") }
                $i++; continue
            }
            if ($l -match '^[-+] ' -and (PathOf $l) -ne '/tmp/builder.log') { $out.Add($l) }
            $i++
        }
        , $out
    }

    # The Debian 12 test image with what a used machine leaves behind, written by guestfish.
    $script:dirty = "$work/dirty.img"
    & cp --sparse=always (Get-GuestFsDebianImage) $dirty
    [IO.File]::WriteAllBytes("$work/seed.bin", [byte[]](1..512 | ForEach-Object { $_ % 251 }))
    $fish = @(
        'mkdir-p /var/log/journal/0123456789abcdef0123456789abcdef', 'write /var/log/journal/0123456789abcdef0123456789abcdef/system.journal "journal"',
        'write /var/log/syslog "Dec  1 boot\n"', 'write /var/log/syslog.1 "old\n"', 'write /var/log/auth.log "sshd: accepted\n"',
        'write /var/log/wtmp "w"', 'write /var/log/lastlog "l"', 'mkdir-p /var/log/apt', 'write /var/log/apt/history.log "install hello\n"',
        'write /root/.bash_history "ls\nrm -rf /tmp/x\n"', 'mkdir-p /root/.ssh', 'write /root/.ssh/known_hosts "host key\n"',
        'mkdir-p /home/alice/.ssh', 'write /home/alice/.bash_history "vi\n"', 'write /home/alice/.ssh/authorized_keys "ssh-ed25519 AAAA alice\n"',
        'write /home/alice/notes.txt "kept\n"',
        'mkdir-p /etc/ssh', 'write /etc/ssh/ssh_host_ed25519_key "private"', 'write /etc/ssh/ssh_host_ed25519_key.pub "public"', 'write /etc/ssh/sshd_config "Port 22\n"',
        'write /etc/machine-id "0123456789abcdef0123456789abcdef\n"', 'mkdir-p /var/lib/dbus', 'ln-s /etc/machine-id /var/lib/dbus/machine-id',
        'mkdir-p /var/lib/dhcp', 'write /var/lib/dhcp/dhclient.eth0.leases "lease { }\n"',
        'mkdir-p /var/cache/apt/archives/partial', 'write /var/cache/apt/archives/hello_2.10-3_amd64.deb "deb"', 'write /var/cache/apt/archives/partial/x.deb "part"',
        'write /var/cache/apt/pkgcache.bin "cache"',
        'mkdir-p /var/mail', 'write /var/mail/root "From someone\n"', 'mkdir-p /var/crash', 'write /var/crash/app.crash "core"',
        'write /etc/passwd- "old passwd\n"', 'write /etc/shadow- "old shadow\n"', 'write /etc/group- "old group\n"',
        'write /tmp/scratch "x"', 'write /tmp/.hidden "x"', 'mkdir-p /tmp/dir/sub', 'write /tmp/dir/sub/f "x"', 'write /var/tmp/y "x"',
        'write /etc/fstab.bak "x"', 'write /root/notes~ "x"', 'mkdir-p /usr/local/share/keep', 'write /usr/local/share/keep/kept.bak "kept"',
        'mkdir-p /var/lib/systemd', "upload $work/seed.bin /var/lib/systemd/random-seed",
        'mkdir-p /var/spool/cron/crontabs', 'write /var/spool/cron/crontabs/root "* * * * * true\n"',
        'write /etc/krb5.keytab "k"', 'mkdir-p /etc/udev/rules.d', 'write /etc/udev/rules.d/70-persistent-net.rules "SUBSYSTEM==net\n"',
        'mkdir-p /var/lib/logrotate', 'write /var/lib/logrotate/status "kept\n"',
        'mkdir-p /var/log/account', 'write /var/log/account/pacct "acct"', 'write /var/log/account/pacct.1.gz "acct"'
    )
    Set-Content "$work/dirty.fish" $fish
    Invoke-Reference guestfish @('--format=raw', '-a', $dirty, '-i', '-f', "$work/dirty.fish") | Out-Null

    function New-Copy([string] $Name) { $p = "$work/$Name.img"; & cp --sparse=always $dirty $p; $p }

    # The reference side of every test, in the order the tests need it.
    foreach ($n in 'default-a', 'chosen-a', 'custom-a', 'pw-a', 'run-arm', 'fb-bare', 'install-a') { New-Copy $n | Out-Null }
    $script:SshKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZzdGVzdGtleWZvcmd1ZXN0ZnN0ZXN0aW5nMTIzNA template@example'
    $script:FirstBoot = @('echo one >> /var/lib/gfs-firstboot-order', 'echo two >> /var/lib/gfs-firstboot-order; touch /var/lib/gfs-firstboot-done')
    $script:RunCommand = 'mkdir -p /opt/app && echo built > /opt/app/version && chmod 0750 /opt/app && ln -s /opt/app/version /etc/app-version && cat /etc/hostname'
    # An aarch64 guest for Invoke-GuestCommand to refuse: its shell is an AArch64 ELF header.
    $elf = [byte[]]::new(64)
    [byte[]](0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0) | ForEach-Object -Begin { $i = 0 } -Process { $elf[$i++] = $_ }
    $elf[16] = 2; $elf[18] = 0xB7; $elf[20] = 1; $elf[52] = 64
    [IO.File]::WriteAllBytes("$work/arm-sh", $elf)
    Set-Content "$work/win.fish" @('write /Windows/setup.log.bak "x"', 'mkdir-p /Users/alice/Documents', 'write /Users/alice/Documents/report.docx~ "x"',
        'write /Users/alice/Documents/report.docx "kept"', 'write /keep.txt "kept"')
    $jobs = [ordered]@{
        default = (ConvertTo-BashLine @('virt-sysprep', '--format', 'raw', '-a', "$work/default-a.img")) + " >/dev/null`n" +
            (ConvertTo-BashLine (@('virt-ls') + (Get-ListingArguments "$work/default-a.img" $LinuxDirs)))
        chosen = (ConvertTo-BashLine @('virt-sysprep', '--format', 'raw', '-a', "$work/chosen-a.img", '--enable', 'bash-history,tmp-files,ssh-hostkeys,pacct-log')) + " >/dev/null`n" +
            (ConvertTo-BashLine (@('virt-ls') + (Get-ListingArguments "$work/chosen-a.img" $LinuxDirs)))
        # Every customization in one virt-customize run, in the order the test makes them; the
        # last step is what the guest's next boot does: the first-boot runner, as its unit starts it.
        custom = (ConvertTo-BashLine @('virt-customize', '--format', 'raw', '-a', "$work/custom-a.img", '--run-command', $RunCommand,
                '--hostname', 'gfs-template.example.com', '--timezone', 'Europe/London', '--ssh-inject', "root:string:$SshKey",
                '--firstboot-command', $FirstBoot[0], '--firstboot-command', $FirstBoot[1], '--run-command', '/usr/lib/virt-sysprep/firstboot.sh start')) + ' >/dev/null'
        password = (ConvertTo-BashLine @('virt-customize', '--format', 'raw', '-a', "$work/pw-a.img", '--password-crypto', 'sha512', '--password', 'root:password:Tpl-Secret_42')) + ' >/dev/null'
        arm = ConvertTo-BashLine @('guestfish', '--format=raw', '-a', "$work/run-arm.img", '-i', 'upload', "$work/arm-sh", '/usr/bin/bash', ':', 'upload', "$work/arm-sh", '/usr/bin/ls')
        # The Windows image is built by the foreground (below) while the lane starts; this job waits for it.
        'windows-dirty' = "for i in `$(seq 600); do [ -e '$work/win-source' ] && break; sleep 1; done`n" +
            "cp --sparse=always `"`$(cat '$work/win-source')`" '$work/win-dirty.img'`n" +
            (ConvertTo-BashLine @('guestfish', '--format=raw', '-a', "$work/win-dirty.img", '-i', '-f', "$work/win.fish")) + "`n" +
            "cp --sparse=always '$work/win-dirty.img' '$work/win-a.img'; cp --sparse=always '$work/win-dirty.img' '$work/win-b.img'"
        windows = (ConvertTo-BashLine @('virt-sysprep', '--format', 'raw', '-a', "$work/win-a.img")) + " >/dev/null`n" +
            (ConvertTo-BashLine (@('virt-ls') + (Get-ListingArguments "$work/win-a.img" @('/'))))
        # A guest with neither systemd nor SysV init directories, and no /etc/shadow.
        'firstboot-bare' = ConvertTo-BashLine @('guestfish', '--format=raw', '-a', "$work/fb-bare.img", '-i', 'rm-rf', '/etc/systemd/system', ':', 'rm-rf', '/etc/init.d', ':', 'rm-rf', '/etc/rc.d', ':', 'rm', '/etc/shadow')
        # virt-customize has the appliance network on by default; its apt-get downloads from the
        # mirror the image's sources.list names (the one this host's apt uses).
        install = (ConvertTo-BashLine @('virt-customize', '--format', 'raw', '-a', "$work/install-a.img", '--install', 'hello')) + " >/dev/null`n" +
            (ConvertTo-BashLine @('virt-cat', '--format=raw', '-a', "$work/install-a.img", '/var/lib/dpkg/status'))
    }
    $script:lane = Start-ReferenceLane $work $jobs
    . $PSScriptRoot/WindowsImages.ps1
    Set-Content "$work/win-source.tmp" (Get-GuestFsWindowsImages).Mbr
    Move-Item "$work/win-source.tmp" "$work/win-source"
}

AfterAll {
    Stop-ReferenceLane $script:lane
    if ($work) { Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue }
}

Describe 'Get-GuestImageResetOperation: the operations of virt-sysprep' {
    It 'has virt-sysprep''s operations under the same names, with the same default set' {
        $ref = Invoke-Reference virt-sysprep @('--list-operations') | ForEach-Object {
            $f = $_ -split '\s+', 3
            [pscustomobject]@{ Name = $f[0]; IsDefault = $f[1] -eq '*' }
        }
        $ours = Get-GuestImageResetOperation
        ($ours.Name -join ',') | Should -Be (($ref.Name | Sort-Object) -join ',')
        (($ours | Where-Object IsDefault).Name -join ',') | Should -Be ((($ref | Where-Object IsDefault).Name | Sort-Object) -join ',')
        $ours | ForEach-Object { $_.Description | Should -Not -BeNullOrEmpty }
        (Get-GuestImageResetOperation -Default).Count | Should -Be @($ref | Where-Object IsDefault).Count
        (Get-GuestImageResetOperation ssh-*).Name | Should -Be @('ssh-hostkeys', 'ssh-userdir')
    }
}

Describe 'Reset-GuestImage: the same result as virt-sysprep' {
    It 'default operations: every file virt-sysprep removes or keeps, the same; random seed refilled; machine-id left empty' {
        $b = New-Copy 'default-b'
        $results = @(Reset-GuestImage -Path $b -Format raw -Confirm:$false -ErrorAction Stop)
        $lb = Get-Listing $b
        $la = ConvertFrom-Listing (Wait-ReferenceJob $lane default)
        $script:afterDefaultReset = $lb
        $diff = Compare-Listing $la $lb -Random '/var/lib/systemd/random-seed', '/etc/machine-id'
        $diff -join "`n" | Should -BeNullOrEmpty
        # Random by design: both refill the seed with 512 new bytes.
        $la['/var/lib/systemd/random-seed'] | Should -Match '^- 0?644 512 '
        ($lb['/var/lib/systemd/random-seed'] -split ' ')[0..2] -join ' ' | Should -Be (($la['/var/lib/systemd/random-seed'] -split ' ')[0..2] -join ' ')
        $lb['/var/lib/systemd/random-seed'] | Should -Not -Be $la['/var/lib/systemd/random-seed']
        $lb['/var/lib/systemd/random-seed'] | Should -Not -Match ((Get-FileHash "$work/seed.bin" -Algorithm MD5).Hash.ToLower())
        # virt-sysprep 1.48 writes one new machine ID that every clone would share; ours stays empty for systemd to make at first boot.
        $la['/etc/machine-id'] | Should -Match '^- \S+ 33 '
        $lb['/etc/machine-id'] | Should -Match '^- \S+ 0 '
        # Things both must have removed, and kept.
        foreach ($gone in '/root/.bash_history', '/home/alice/.ssh', '/etc/ssh/ssh_host_ed25519_key', '/var/log/syslog', '/var/lib/dhcp/dhclient.eth0.leases',
            '/var/cache/apt/archives/hello_2.10-3_amd64.deb', '/var/mail/root', '/var/crash/app.crash', '/etc/passwd-', '/tmp/.hidden', '/etc/fstab.bak', '/root/notes~') {
            $lb.Contains($gone) | Should -BeFalse -Because "$gone is removed by virt-sysprep's defaults"
        }
        foreach ($kept in '/home/alice/notes.txt', '/etc/ssh/sshd_config', '/var/cache/apt/pkgcache.bin', '/usr/local/share/keep/kept.bak', '/var/lib/logrotate/status', '/tmp', '/var/cache/apt/archives/partial') {
            $lb.Contains($kept) | Should -BeTrue -Because "$kept is kept"
        }
        # What it returns: per operation, what went.
        ($results | Where-Object Operation -eq 'bash-history').Removed | Sort-Object | Should -Be @('/home/alice/.bash_history', '/root/.bash_history')
        ($results | Where-Object Operation -eq 'machine-id').Changed | Should -Be @('truncated: /etc/machine-id')
        $results[0].ImagePath | Should -Be $b
    }

    It 'a chosen list of operations (-Operation) does what virt-sysprep --enable does with the same list' {
        $b = New-Copy 'chosen-b'
        Reset-GuestImage -Path $b -Format raw -Operation bash-history, tmp-files, ssh-hostkeys, pacct-log -Confirm:$false -ErrorAction Stop | Out-Null
        $lb = Get-Listing $b
        $la = ConvertFrom-Listing (Wait-ReferenceJob $lane chosen)
        (Compare-Listing $la $lb) -join "`n" | Should -BeNullOrEmpty
        $lb.Contains('/var/log/syslog') | Should -BeTrue -Because 'logfiles was not chosen'
        $lb['/var/log/account/pacct'] | Should -Match '^- \S+ 0 '
        $lb.Contains('/var/log/account/pacct.1.gz') | Should -BeFalse
    }
}

Describe 'Reset-GuestImage: -WhatIf, read-only disks and bad input' {
    It '-WhatIf lists every file an operation would remove, and changes nothing' {
        $c = New-Copy 'whatif'
        $hash = (Get-FileHash $c -Algorithm SHA256).Hash
        $pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { "$PSHOME/pwsh.dll" })
        $out = & ([Environment]::ProcessPath) @pwshArgs -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; Reset-GuestImage -Path '$c' -Format raw -WhatIf" 2>&1
        $text = $out -join "`n"
        $LASTEXITCODE | Should -Be 0 -Because $text
        $text | Should -Match ([regex]::Escape('bash-history: remove') + '.*' + [regex]::Escape('/root/.bash_history'))
        $text | Should -Match ([regex]::Escape('/tmp/dir/sub/f'))
        $text | Should -Match ([regex]::Escape('/home/alice/.ssh/authorized_keys'))
        $text | Should -Match ([regex]::Escape('machine-id: truncate') + '.*' + [regex]::Escape('/etc/machine-id'))
        (Get-FileHash $c -Algorithm SHA256).Hash | Should -Be $hash
    }

    It 'refuses a read-only disk with an error naming -Writable, and an unknown operation with the list of valid ones' {
        $c = New-Copy 'refusals'
        $hash = (Get-FileHash $c -Algorithm SHA256).Hash
        $d = Open-GuestDisk -Path $c -Format raw
        try {
            Reset-GuestImage -Disk $d -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $e[0].FullyQualifiedErrorId | Should -Match '^GuestDiskReadOnly'
            "$($e[0])" | Should -Match '-Writable'
        }
        finally { Close-GuestDisk -Disk $d }
        { Reset-GuestImage -Path $c -Format raw -Operation bash-history, no-such-op -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnknownResetOperation,GuestFs.PowerShell.Commands.ResetGuestImageCommand'
        try { Reset-GuestImage -Path $c -Format raw -Operation no-such-op -Confirm:$false -ErrorAction Stop } catch { "$_" | Should -Match 'ssh-hostkeys.*tmp-files' }
        (Get-FileHash $c -Algorithm SHA256).Hash | Should -Be $hash
    }

    It 'with -Disk: resets an open writable session and puts its mounts back' {
        $c = New-Copy 'disk'
        $d = Open-GuestDisk -Path $c -Format raw -Writable
        try {
            Mount-GuestFs -Disk $d -Device /dev/sda2 -MountPoint /
            $r = @(Reset-GuestImage -Disk $d -Operation bash-history, ssh-userdir -Confirm:$false -ErrorAction Stop)
            ($r | Where-Object Operation -eq 'ssh-userdir').Removed | Sort-Object | Should -Be @('/home/alice/.ssh', '/root/.ssh')
            $r[0].Disk | Should -Be $d.Id
            (Get-GuestMount -Disk $d).MountPoint | Should -Be @('/')
            Test-GuestPath -Disk $d /root/.bash_history | Should -BeFalse
            Test-GuestPath -Disk $d /home/alice/notes.txt | Should -BeTrue
        }
        finally { Close-GuestDisk -Disk $d }
    }
}

Describe 'Reset-GuestImage: Ctrl+C' {
    It 'stopped mid-way leaves no appliance, an image that opens, and a second run ends where an uninterrupted one does' {
        $script:afterDefaultReset | Should -Not -BeNullOrEmpty -Because 'the default-operations test runs first in this file'
        $c = New-Copy 'stopped'
        # Only this process's appliances count (qemu's parent is this process), not the reference lane's;
        # a warm appliance's command line does not name the image (it is attached later).
        $before = @(Get-QemuProcessIds)
        function Get-OwnQemu { @(Get-QemuProcessIds | Where-Object { $_ -notin $before -and (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) }
        $r = Stop-GuestFsCommandWhen Reset-GuestImage @{ Path = $c; Format = 'raw'; Confirm = $false } {
            param($ps) [bool]@($ps.Streams.Progress.ReadAll() | Where-Object StatusDescription -eq 'logfiles') } -DelayMilliseconds 300
        $r.EndedBeforeStop | Should -BeFalse -Because 'the stop must come while the operations run'
        $r.State | Should -Be 'Stopped'
        Start-Sleep -Seconds 1
        Get-OwnQemu | Should -BeNullOrEmpty
        Reset-GuestImage -Path $c -Format raw -Confirm:$false -ErrorAction Stop | Out-Null
        $lc = Get-Listing $c
        (Compare-Listing $script:afterDefaultReset $lc -Random '/var/lib/systemd/random-seed' -NameA 'one run' -NameB 'stopped, then run again') -join "`n" | Should -BeNullOrEmpty
    }
}

Describe 'Reset-GuestImage: a Windows guest, as virt-sysprep treats it' {
    It 'the default set removes the same backup files, anywhere on C:, and nothing else' {
        # The lane wrote the dirt with guestfish and made the two copies.
        Wait-ReferenceJob $lane windows-dirty | Out-Null
        $b = "$work/win-b.img"
        $r = @(Reset-GuestImage -Path $b -Format raw -Confirm:$false -ErrorAction Stop)
        $lb = Get-Listing $b @('/')
        $la = ConvertFrom-Listing (Wait-ReferenceJob $lane windows)
        (Compare-Listing $la $lb) -join "`n" | Should -BeNullOrEmpty
        $lb.Contains('/Windows/setup.log.bak') | Should -BeFalse
        $lb.Contains('/Users/alice/Documents/report.docx') | Should -BeTrue
        ($r | Where-Object Operation -eq 'backup-files').Removed | Sort-Object | Should -Be @('/Users/alice/Documents/report.docx~', '/Windows/setup.log.bak')
        ($r | Where-Object Operation -eq 'customize').Skipped | Should -Match 'windows guest'
    }
}

Describe 'Customization cmdlets: the same changes as virt-customize' {
    It 'a template customized in one session (command, host name, time zone, SSH key, two first-boot commands, then its next boot) is what virt-customize makes of it (virt-diff)' {
        $a = "$work/custom-a.img"; $b = New-Copy 'custom-b'
        $d = Open-GuestDisk -Path $b -Format raw -Writable
        try {
            $r = @(
                Invoke-GuestCommand -Disk $d -Command $RunCommand -Confirm:$false -ErrorAction Stop
                Set-GuestHostname -Disk $d -Name gfs-template.example.com -Confirm:$false -ErrorAction Stop
                Set-GuestTimeZone -Disk $d -TimeZone Europe/London -Confirm:$false -ErrorAction Stop
                Add-GuestSshAuthorizedKey -Disk $d -User root -Key $SshKey -Confirm:$false -ErrorAction Stop
                foreach ($c in $FirstBoot) { Add-GuestFirstBootCommand -Disk $d -Command $c -Confirm:$false -ErrorAction Stop }
            )
            $r.Operation | Should -Be @('run-command', 'hostname', 'timezone', 'ssh-inject', 'firstboot-command', 'firstboot-command')
            $r[0].Output | Should -Be "gfs-debian`n"
            $r[1].Changed | Should -Contain '/etc/hostname'
            $r[3].Changed | Should -Contain '/root/.ssh/authorized_keys'
            $r[4].Changed | Should -Contain '/usr/lib/virt-sysprep/firstboot.sh'
            $r[4].Changed | Should -Contain '/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service'
            # The second first-boot command keeps the runner and is queued after the first.
            $r[5].Changed | Should -Not -Contain '/usr/lib/virt-sysprep/firstboot.sh'
            $queued = @($r[4].Changed + $r[5].Changed | Where-Object { $_ -like '/usr/lib/virt-sysprep/scripts/*' })
            $queued.Count | Should -Be 2
            ($queued | Sort-Object -CaseSensitive) | Should -Be $queued
            # Nothing is left mounted by the cmdlets.
            @(Get-GuestMount -Disk $d) | Should -BeNullOrEmpty
            # The next boot: the runner, as the unit starts it. Both commands ran, in order, and the queue is empty.
            $boot = Invoke-GuestCommand -Disk $d -Command '/usr/lib/virt-sysprep/firstboot.sh start >/dev/null; cat /var/lib/gfs-firstboot-order; ls /usr/lib/virt-sysprep/scripts' -Confirm:$false -ErrorAction Stop
            $boot.Output | Should -Be "one`ntwo`n"
        }
        finally { Close-GuestDisk -Disk $d }
        Wait-ReferenceJob $lane custom | Out-Null
        $diff = Get-RealDifference @(Invoke-Reference virt-diff @('--format=raw', '-a', $a, '-A', $b))
        # The first-boot runner, its unit and its log say things in their own words; every other file, link, mode and owner is the same.
        $own = '/usr/lib/virt-sysprep/firstboot.sh', '/usr/lib/systemd/system/guestfs-firstboot.service', '/root/virt-sysprep-firstboot.log'
        @($diff | Where-Object { $line = $_; -not ($own | Where-Object { $line -like "*$_*" }) }) -join "`n" | Should -BeNullOrEmpty
        # Not vacuous: the changes are in B.
        $os = Get-GuestOSInfo -Path $b -Format raw
        $os.Hostname | Should -Be 'gfs-template.example.com'
    }

    It 'Set-GuestHostname on a Windows guest writes the computer name and the TCP/IP host name into the SYSTEM hive (virt-win-reg reads them back)' {
        $w = "$work/win-hostname.img"
        & cp --sparse=always (Get-GuestFsWindowsImages).Mbr $w
        $r = Set-GuestHostname -Path $w -Format raw -Name gfs-win-tpl.corp.example -Confirm:$false -ErrorAction Stop
        $r.Changed | Should -Be @('/Windows/System32/config/SYSTEM')
        # Every value of the current control set, from one virt-win-reg run (hivexregedit's .reg export).
        # hivexregedit writes strings as hex(1) (UTF-16LE bytes); they are decoded here to "name"="value".
        $reg = @(Invoke-Reference virt-win-reg @('--format=raw', $w, 'HKLM\SYSTEM\ControlSet001') | ForEach-Object {
                if ($_ -match '^("[^"]+")=hex\(1\):([0-9a-f,]*)$') {
                    $bytes = [byte[]]@($Matches[2] -split ',' | Where-Object { $_ } | ForEach-Object { [Convert]::ToByte($_, 16) })
                    '{0}="{1}"' -f $Matches[1], [Text.Encoding]::Unicode.GetString($bytes).TrimEnd([char]0)
                }
                else { $_ }
            }) -join "`n"
        $reg | Should -Match ([regex]::Escape('[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName\ComputerName]') + '\s+("[^\n]*\n)*"ComputerName"="GFS-WIN-TPL"')
        $tcpip = ($reg -split '(?m)^\[')| Where-Object { $_ -like 'HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters]*' }
        foreach ($v in '"Hostname"="gfs-win-tpl"', '"NV Hostname"="gfs-win-tpl"', '"Domain"="corp.example"', '"NV Domain"="corp.example"') {
            $tcpip | Should -Match ([regex]::Escape($v))
        }
        # A first label too long for a NetBIOS name is refused, and the name stays as it was.
        Set-GuestHostname -Path $w -Format raw -Name 'a-very-long-windows-name' -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
        "$($e[0])" | Should -Match '15 characters'
        (Get-GuestOSInfo -Path $w -Format raw).Hostname | Should -Be 'gfs-win-tpl'
    }

    It 'many images in one pipeline (reset, then customize, then read back, -ThrottleLimit 2) and bad input: an unknown time zone, a missing user, a read-only disk' {
        $c1 = New-Copy 'fleet-1'; $c2 = New-Copy 'fleet-2'
        # Each stage hands its images on by the results' ImagePath.
        $os = @(Get-Item $c1, $c2 |
                Reset-GuestImage -Operation tmp-files -Format raw -ThrottleLimit 2 -Confirm:$false -ErrorAction Stop -OutVariable reset |
                Set-GuestHostname -Format raw -Name gfs-clone -ThrottleLimit 2 -Confirm:$false -ErrorAction Stop -OutVariable named |
                Get-GuestOSInfo -Format raw -ThrottleLimit 2 -ErrorAction Stop)
        @($reset | Where-Object Removed -Contains '/tmp/scratch').ImagePath | Sort-Object | Should -Be @($c1, $c2)
        $named.ImagePath | Sort-Object | Should -Be @($c1, $c2)
        $os.Hostname | Should -Be @('gfs-clone', 'gfs-clone')
        $os.ImagePath | Sort-Object | Should -Be @($c1, $c2)
        # A bad host name is refused before the image is opened.
        $hash = (Get-FileHash $c1 -Algorithm SHA256).Hash
        { Set-GuestHostname -Path $c1 -Format raw -Name 'bad_name!' -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidCustomization,GuestFs.PowerShell.Commands.SetGuestHostnameCommand'
        (Get-FileHash $c1 -Algorithm SHA256).Hash | Should -Be $hash
        # What only the guest can tell (its zoneinfo, its users) is an error naming the value.
        Set-GuestTimeZone -Path $c1 -Format raw -TimeZone Mars/Olympus_Mons -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
        "$($e[0])" | Should -Match 'Mars/Olympus_Mons'
        $e[0].FullyQualifiedErrorId | Should -Match '^InvalidCustomization'
        Add-GuestSshAuthorizedKey -Path $c1 -Format raw -User nosuchuser -Key 'ssh-ed25519 AAAA x' -Confirm:$false -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
        "$($e2[0])" | Should -Match "'nosuchuser' does not exist"
        $d = Open-GuestDisk -Path $c1 -Format raw
        try {
            Set-GuestHostname -Disk $d -Name other -Confirm:$false -ErrorVariable e3 -ErrorAction SilentlyContinue | Out-Null
            "$($e3[0])" | Should -Match '-Writable'
        }
        finally { Close-GuestDisk -Disk $d }
    }
}

Describe 'Set-GuestUserPassword: the shadow entry virt-customize --password writes' {
    It 'the same hash type, salt length and fields as virt-customize --password-crypto sha512, each checked with the host''s crypt; -Random and -Locked' {
        $a = "$work/pw-a.img"; $b = New-Copy 'pw-b'; $c = New-Copy 'pw-c'
        $secure = ConvertTo-SecureString 'Tpl-Secret_42' -AsPlainText -Force
        $r = Set-GuestUserPassword -Path $b -Format raw -User root -Password $secure -Confirm:$false -ErrorAction Stop
        $r.Changed | Should -Be @('/etc/shadow')
        $r.Password | Should -BeNullOrEmpty
        $rr = Set-GuestUserPassword -Path $c -Format raw -User root -Random -Locked -Confirm:$false -ErrorAction Stop
        $rr.Password | Should -BeOfType [securestring]
        $randomPlain = [Net.NetworkCredential]::new('', $rr.Password).Password
        $randomPlain | Should -Match '^[A-Za-z0-9]{16}$'
        Wait-ReferenceJob $lane password | Out-Null
        # One guestfish run reads the three shadow files (root filesystem /dev/sdX2 of each).
        $out = Invoke-Reference guestfish @('--ro', '--format=raw', '-a', $a, '-a', $b, '-a', $c, 'run',
            ':', 'mount', '/dev/sda2', '/', ':', 'cat', '/etc/shadow', ':', 'stat', '/etc/shadow', ':', 'umount', '/',
            ':', 'mount', '/dev/sdb2', '/', ':', 'cat', '/etc/shadow', ':', 'stat', '/etc/shadow', ':', 'umount', '/',
            ':', 'mount', '/dev/sdc2', '/', ':', 'cat', '/etc/shadow')
        $roots = @($out | Where-Object { $_ -like 'root:*' })
        $roots.Count | Should -Be 3
        $fa = $roots[0] -split ':'; $fb = $roots[1] -split ':'; $fc = $roots[2] -split ':'
        # Every field but the hash is the same; the hashes are SHA-512 crypt with 16-character salts.
        ($fa[0] + ':' + ($fa[2..8] -join ':')) | Should -Be ($fb[0] + ':' + ($fb[2..8] -join ':'))
        $fa[1] | Should -Match '^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$'
        $fb[1] | Should -Match '^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$'
        $fb[1] | Should -Not -Be $fa[1]
        $fc[1] | Should -Match '^!!\$6\$'
        # The host's SHA-512 crypt (openssl passwd -6) gives each hash from its password and salt.
        foreach ($pair in @(@('Tpl-Secret_42', $fa[1]), @('Tpl-Secret_42', $fb[1]), @($randomPlain, $fc[1].Substring(2)))) {
            $salt = ($pair[1] -split '\$')[2]
            & openssl passwd -6 -salt $salt $pair[0] | Should -Be $pair[1]
        }
        # Same owner and mode for /etc/shadow.
        $modes = @($out | Where-Object { $_ -match '^(mode|uid|gid):' })
        ($modes[0..2] -join ',') | Should -Be ($modes[3..5] -join ',')
    }
}

Describe 'Invoke-GuestCommand: what virt-customize --run-command does' {
    It 'a failing command is an error, and a guest of another architecture is refused (its result is compared with virt-customize''s in the template test above)' {
        $b = New-Copy 'run-b'
        # A failing command is an error with what it said.
        Invoke-GuestCommand -Path $b -Format raw -Command 'echo about to fail >&2; false' -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
        $e.Count | Should -Be 1
        "$($e[0])" | Should -Match 'about to fail'
        # An aarch64 guest (the lane's guestfish put an AArch64 ELF header in place of its shell), so inspection says aarch64.
        Wait-ReferenceJob $lane arm | Out-Null
        $c = "$work/run-arm.img"
        (Get-GuestOSInfo -Path $c -Format raw).Architecture | Should -Be 'aarch64'
        Invoke-GuestCommand -Path $c -Format raw -Command 'true' -Confirm:$false -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
        $e2[0].FullyQualifiedErrorId | Should -Match '^NotSupportedForGuest'
        "$($e2[0])" | Should -Match 'aarch64'
    }
}

Describe 'Customization cmdlets: Ctrl+C' {
    It 'Invoke-GuestCommand stopped while its command runs leaves no appliance, and the image opens and takes the next change' {
        $c = New-Copy 'stopped-command'
        # The stop comes 25 s after its appliance started: past the launch here, inside the two-minute command.
        # This process's new appliances (qemu's parent is this process), not the reference lane's.
        $before = @(Get-QemuProcessIds)
        function Get-OwnQemu { @(Get-QemuProcessIds | Where-Object { $_ -notin $before -and (Get-Process -Id $_ -ErrorAction SilentlyContinue).Parent.Id -eq $PID }) }
        $r = Stop-GuestFsCommandWhen Invoke-GuestCommand @{ Path = $c; Format = 'raw'; Command = 'sleep 120'; Confirm = $false } {
            param($ps) [bool](Get-OwnQemu) } -DelayMilliseconds 25000
        $r.EndedBeforeStop | Should -BeFalse -Because 'the stop must come while the command runs'
        $r.State | Should -Be 'Stopped'
        Start-Sleep -Seconds 1
        Get-OwnQemu | Should -BeNullOrEmpty
        (Invoke-GuestCommand -Path $c -Format raw -Command 'echo ok > /root/after-stop; cat /etc/hostname' -Confirm:$false -ErrorAction Stop).Output | Should -Be "gfs-debian`n"
    }
}

Describe 'Add-GuestFirstBootCommand: what virt-customize --firstboot-command installs' {
    It 'refuses a guest without what the change needs (no systemd or SysV init to run the command, no /etc/shadow for a password), and a read-only disk' {
        Wait-ReferenceJob $lane firstboot-bare | Out-Null
        Add-GuestFirstBootCommand -Path "$work/fb-bare.img" -Format raw -Command 'true' -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
        $e[0].FullyQualifiedErrorId | Should -Match '^NotSupportedForGuest'
        "$($e[0])" | Should -Match 'systemd'
        Set-GuestUserPassword -Path "$work/fb-bare.img" -Format raw -User root -Locked -Confirm:$false -ErrorVariable e1 -ErrorAction SilentlyContinue | Out-Null
        $e1[0].FullyQualifiedErrorId | Should -Match '^NotSupportedForGuest'
        "$($e1[0])" | Should -Match '/etc/shadow'
        $d = Open-GuestDisk -Path "$work/fb-bare.img" -Format raw
        try {
            Add-GuestFirstBootCommand -Disk $d -Command 'true' -Confirm:$false -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
            "$($e2[0])" | Should -Match '-Writable'
        }
        finally { Close-GuestDisk -Disk $d }
    }
}

Describe 'Install-GuestPackage: what virt-customize --install does' {
    It 'installs a package from the Debian mirror with the guest''s apt, the same dpkg status entry as virt-customize''s; a session without a network is refused' {
        $b = New-Copy 'install-b'
        $r = Install-GuestPackage -Path $b -Format raw -Name hello -Confirm:$false -ErrorAction Stop
        $r.Operation | Should -Be 'install'
        $entry = @($r.Packages | Where-Object { $_ -like 'hello *' })
        $entry.Count | Should -Be 1 -Because "Packages lists what apt installed: $($r.Packages -join ', ')"
        $r.Output | Should -Match 'Setting up hello'
        # Both status files, the paragraph of hello in each: every field the same (version, size, depends, status …).
        function Get-StatusParagraph([string] $Text, [string] $Name) {
            ($Text -replace "`r", '') -split "`n`n" | Where-Object { $_ -match "(?m)^Package: $([regex]::Escape($Name))$" } | ForEach-Object { $_.Trim() }
        }
        $d = Open-GuestDisk -Path $b -Format raw -Inspect
        try {
            $mine = Get-StatusParagraph ((Get-GuestContent -Disk $d /var/lib/dpkg/status -Raw)) hello
            (Get-GuestContent -Disk $d /usr/bin/hello -AsByteStream -TotalCount 4) | Should -Be @(0x7f, 0x45, 0x4c, 0x46)
        }
        finally { Close-GuestDisk -Disk $d }
        $theirs = Get-StatusParagraph ((Wait-ReferenceJob $lane install) -join "`n") hello
        $theirs | Should -Not -BeNullOrEmpty -Because 'virt-customize --install installed hello'
        $mine | Should -Be $theirs
        $mine | Should -Match '(?m)^Status: install ok installed$'
        $entry[0] | Should -Be ('hello ' + [regex]::Match($mine, '(?m)^Version: (.+)$').Groups[1].Value)
        # A session opened without -Network: refused before anything runs, with what to do.
        $d = Open-GuestDisk -Path (New-Copy 'install-c') -Format raw -Writable
        try {
            Install-GuestPackage -Disk $d -Name hello -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
            $e[0].FullyQualifiedErrorId | Should -Match '^NetworkRequired'
            "$($e[0])" | Should -Match 'Open-GuestDisk -Writable -Network'
        }
        finally { Close-GuestDisk -Disk $d }
        # A name that is not a package name is refused before any image is opened.
        { Install-GuestPackage -Path $b -Format raw -Name 'hello; reboot' -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidCustomization,GuestFs.PowerShell.Commands.InstallGuestPackageCommand'
    }
}
