# Reset-GuestImage against virt-sysprep on copies of the same dirtied Debian 12 image,
# in the same run: each copy is read back with one "virt-ls -lR --checksum" run and the
# listings are compared entry by entry. The dirt is written by guestfish (the reference),
# not by the code under test.
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

    # Every entry of the guest from one "virt-ls -lR /" run: "type mode size" for files,
    # "d mode" for directories, "type mode target" otherwise. With -Checksums, one more run,
    # "virt-ls -lR --checksum <dir>", adds each file's checksum there. (A checksum of the
    # whole Debian tree takes virt-ls about five minutes under TCG; what the operations
    # touch outside /var is told apart by its size.)
    function Get-Listing([string] $Image, [string] $Checksums) {
        $map = [ordered]@{}
        foreach ($l in Invoke-Reference virt-ls @('--format=raw', '-a', $Image, '-lR', '/')) {
            $f = $l -split '\s+'
            if ($f[0] -eq '-') { $map[$f[3]] = '- {0} {1}' -f $f[1], $f[2] }
            elseif ($f[0] -eq 'd') { $map[$f[3]] = 'd {0}' -f $f[1] }
            else { $map[$f[3]] = '{0} {1} {2}' -f $f[0], $f[1], ($f[4..($f.Count - 1)] -join ' ') }
        }
        if ($Checksums) {
            foreach ($l in Invoke-Reference virt-ls @('--format=raw', '-a', $Image, '-lR', '--checksum', $Checksums)) {
                $f = $l -split '\s+'
                if ($f[0] -eq '-') { $map[$f[4]] = '- {0} {1} {2}' -f $f[1], $f[2], $f[3] }
            }
        }
        $map
    }

    # Differences between two listings, as text lines (empty when they are equal), leaving out the
    # paths whose content is random by design (compared by the caller).
    function Compare-Listing($A, $B, [string[]] $Random = @()) {
        $out = [Collections.Generic.List[string]]::new()
        foreach ($p in $A.Keys) {
            if ($Random -contains $p) { continue }
            if (-not $B.Contains($p)) { $out.Add("only after virt-sysprep: $p ($($A[$p]))") }
            elseif ($A[$p] -ne $B[$p]) { $out.Add("differs: $p (virt-sysprep: $($A[$p]); Reset-GuestImage: $($B[$p]))") }
        }
        foreach ($p in $B.Keys) { if (-not $A.Contains($p) -and $Random -notcontains $p) { $out.Add("only after Reset-GuestImage: $p ($($B[$p]))") } }
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
}

AfterAll {
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
        $a = New-Copy 'default-a'; $b = New-Copy 'default-b'
        Invoke-Reference virt-sysprep @('--format', 'raw', '-a', $a) | Out-Null
        $results = @(Reset-GuestImage -Path $b -Format raw -Confirm:$false -ErrorAction Stop)
        $la = Get-Listing $a /var; $lb = Get-Listing $b /var
        $diff = Compare-Listing $la $lb -Random '/var/lib/systemd/random-seed', '/etc/machine-id'
        $diff -join "`n" | Should -BeNullOrEmpty
        # Random by design: both refill the seed with 512 new bytes.
        $la['/var/lib/systemd/random-seed'] | Should -Match '^- 0?644 512 '
        ($lb['/var/lib/systemd/random-seed'] -split ' ')[0..2] -join ' ' | Should -Be (($la['/var/lib/systemd/random-seed'] -split ' ')[0..2] -join ' ')
        $lb['/var/lib/systemd/random-seed'] | Should -Not -Be $la['/var/lib/systemd/random-seed']
        $lb['/var/lib/systemd/random-seed'] | Should -Not -Match ((Get-FileHash "$work/seed.bin" -Algorithm MD5).Hash.ToLower())
        # virt-sysprep 1.48 writes one new machine ID that every clone would share; ours stays empty for systemd to make at first boot.
        $la['/etc/machine-id'] | Should -Match '^- \S+ 33$'
        $lb['/etc/machine-id'] | Should -Match '^- \S+ 0$'
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
        $a = New-Copy 'chosen-a'; $b = New-Copy 'chosen-b'
        Invoke-Reference virt-sysprep @('--format', 'raw', '-a', $a, '--enable', 'bash-history,tmp-files,ssh-hostkeys,pacct-log') | Out-Null
        Reset-GuestImage -Path $b -Format raw -Operation bash-history, tmp-files, ssh-hostkeys, pacct-log -Confirm:$false -ErrorAction Stop | Out-Null
        $la = Get-Listing $a; $lb = Get-Listing $b
        (Compare-Listing $la $lb) -join "`n" | Should -BeNullOrEmpty
        $lb.Contains('/var/log/syslog') | Should -BeTrue -Because 'logfiles was not chosen'
        $lb['/var/log/account/pacct'] | Should -Match '^- \S+ 0$'
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
