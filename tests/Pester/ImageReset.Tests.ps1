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
    # a content mark with no diff under it, and virt-customize's own log, /tmp/builder.log.
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
                $real = @($fields | Where-Object { $_ -and $_ -notmatch '^st_(ino|atime|mtime|ctime)' })
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
        $script:afterDefaultReset = $lb
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

Describe 'Reset-GuestImage: Ctrl+C' {
    It 'stopped mid-way leaves no appliance, an image that opens, and a second run ends where an uninterrupted one does' {
        $script:afterDefaultReset | Should -Not -BeNullOrEmpty -Because 'the default-operations test runs first in this file'
        $c = New-Copy 'stopped'
        $before = Get-QemuProcessIds
        $r = Stop-GuestFsCommandWhen Reset-GuestImage @{ Path = $c; Format = 'raw'; Confirm = $false } {
            param($ps) [bool]@($ps.Streams.Progress.ReadAll() | Where-Object StatusDescription -eq 'logfiles') } -DelayMilliseconds 300
        $r.EndedBeforeStop | Should -BeFalse -Because 'the stop must come while the operations run'
        $r.State | Should -Be 'Stopped'
        Start-Sleep -Seconds 1
        @(Get-QemuProcessIds | Where-Object { $before -notcontains $_ }) | Should -BeNullOrEmpty
        Reset-GuestImage -Path $c -Format raw -Confirm:$false -ErrorAction Stop | Out-Null
        $lc = Get-Listing $c /var
        (Compare-Listing $script:afterDefaultReset $lc -Random '/var/lib/systemd/random-seed' -NameA 'one run' -NameB 'stopped, then run again') -join "`n" | Should -BeNullOrEmpty
    }
}

Describe 'Reset-GuestImage: a Windows guest, as virt-sysprep treats it' {
    BeforeAll {
        . $PSScriptRoot/WindowsImages.ps1
        $script:winDirty = "$work/win-dirty.img"
        & cp --sparse=always (Get-GuestFsWindowsImages).Mbr $winDirty
        $fish = @('write /Windows/setup.log.bak "x"', 'mkdir-p /Users/alice/Documents', 'write /Users/alice/Documents/report.docx~ "x"',
            'write /Users/alice/Documents/report.docx "kept"', 'write /keep.txt "kept"')
        Set-Content "$work/win.fish" $fish
        Invoke-Reference guestfish @('--format=raw', '-a', $winDirty, '-i', '-f', "$work/win.fish") | Out-Null
    }

    It 'the default set removes the same backup files, anywhere on C:, and nothing else' {
        $a = "$work/win-a.img"; $b = "$work/win-b.img"
        & cp --sparse=always $winDirty $a; & cp --sparse=always $winDirty $b
        Invoke-Reference virt-sysprep @('--format', 'raw', '-a', $a) | Out-Null
        $r = @(Reset-GuestImage -Path $b -Format raw -Confirm:$false -ErrorAction Stop)
        $la = Get-Listing $a; $lb = Get-Listing $b
        (Compare-Listing $la $lb) -join "`n" | Should -BeNullOrEmpty
        $lb.Contains('/Windows/setup.log.bak') | Should -BeFalse
        $lb.Contains('/Users/alice/Documents/report.docx') | Should -BeTrue
        ($r | Where-Object Operation -eq 'backup-files').Removed | Sort-Object | Should -Be @('/Users/alice/Documents/report.docx~', '/Windows/setup.log.bak')
        ($r | Where-Object Operation -eq 'customize').Skipped | Should -Match 'windows guest'
    }
}

Describe 'Customization cmdlets: the same changes as virt-customize' {
    It 'Set-GuestHostname, Set-GuestTimeZone and Add-GuestSshAuthorizedKey leave what virt-customize --hostname --timezone --ssh-inject leaves (virt-diff)' {
        $a = New-Copy 'custom-a'; $b = New-Copy 'custom-b'
        $key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZzdGVzdGtleWZvcmd1ZXN0ZnN0ZXN0aW5nMTIzNA template@example'
        Invoke-Reference virt-customize @('--format', 'raw', '-a', $a, '--hostname', 'gfs-template.example.com', '--timezone', 'Europe/London',
            '--ssh-inject', "root:string:$key") | Out-Null
        $d = Open-GuestDisk -Path $b -Format raw -Writable
        try {
            $r = @(
                Set-GuestHostname -Disk $d -Name gfs-template.example.com -Confirm:$false -ErrorAction Stop
                Set-GuestTimeZone -Disk $d -TimeZone Europe/London -Confirm:$false -ErrorAction Stop
                Add-GuestSshAuthorizedKey -Disk $d -User root -Key $key -Confirm:$false -ErrorAction Stop
            )
            $r.Operation | Should -Be @('hostname', 'timezone', 'ssh-inject')
            $r[0].Changed | Should -Contain '/etc/hostname'
            $r[2].Changed | Should -Contain '/root/.ssh/authorized_keys'
            # Nothing is left mounted by the cmdlets.
            @(Get-GuestMount -Disk $d) | Should -BeNullOrEmpty
        }
        finally { Close-GuestDisk -Disk $d }
        $diff = Get-RealDifference @(Invoke-Reference virt-diff @('--format=raw', '-a', $a, '-A', $b))
        $diff -join "`n" | Should -BeNullOrEmpty
        # Not vacuous: the changes are in B.
        $os = Get-GuestOSInfo -Path $b -Format raw
        $os.Hostname | Should -Be 'gfs-template.example.com'
    }

    It 'many images at once (-Path, -ThrottleLimit 2) and bad input: an unknown time zone, a missing user, a read-only disk' {
        $c1 = New-Copy 'fleet-1'; $c2 = New-Copy 'fleet-2'
        $r = @(Set-GuestHostname -Path $c1, $c2 -Format raw -Name gfs-clone -ThrottleLimit 2 -Confirm:$false -ErrorAction Stop)
        $r.ImagePath | Sort-Object | Should -Be @($c1, $c2)
        (Get-GuestOSInfo -Path $c1, $c2 -Format raw -ThrottleLimit 2).Hostname | Should -Be @('gfs-clone', 'gfs-clone')
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
        $a = New-Copy 'pw-a'; $b = New-Copy 'pw-b'; $c = New-Copy 'pw-c'
        Invoke-Reference virt-customize @('--format', 'raw', '-a', $a, '--password-crypto', 'sha512', '--password', 'root:password:Tpl-Secret_42') | Out-Null
        $secure = ConvertTo-SecureString 'Tpl-Secret_42' -AsPlainText -Force
        $r = Set-GuestUserPassword -Path $b -Format raw -User root -Password $secure -Confirm:$false -ErrorAction Stop
        $r.Changed | Should -Be @('/etc/shadow')
        $r.Password | Should -BeNullOrEmpty
        $rr = Set-GuestUserPassword -Path $c -Format raw -User root -Random -Locked -Confirm:$false -ErrorAction Stop
        $rr.Password | Should -BeOfType [securestring]
        $randomPlain = [Net.NetworkCredential]::new('', $rr.Password).Password
        $randomPlain | Should -Match '^[A-Za-z0-9]{16}$'
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
    It 'runs the guest''s own shell with the same result (virt-diff), returns its output, and refuses a guest of another architecture' {
        $a = New-Copy 'run-a'; $b = New-Copy 'run-b'
        $cmd = 'mkdir -p /opt/app && echo built > /opt/app/version && chmod 0750 /opt/app && ln -s /opt/app/version /etc/app-version && cat /etc/hostname'
        Invoke-Reference virt-customize @('--format', 'raw', '-a', $a, '--run-command', $cmd) | Out-Null
        $r = Invoke-GuestCommand -Path $b -Format raw -Command $cmd -Confirm:$false -ErrorAction Stop
        $r.Output | Should -Be "gfs-debian`n"
        $diff = Get-RealDifference @(Invoke-Reference virt-diff @('--format=raw', '-a', $a, '-A', $b))
        $diff -join "`n" | Should -BeNullOrEmpty
        # A failing command is an error with what it said.
        Invoke-GuestCommand -Path $b -Format raw -Command 'echo about to fail >&2; false' -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
        $e.Count | Should -Be 1
        # An aarch64 guest: its shell is an AArch64 ELF file, so inspection says aarch64.
        $c = New-Copy 'run-arm'
        $elf = [byte[]]::new(64)
        [byte[]](0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0) | ForEach-Object -Begin { $i = 0 } -Process { $elf[$i++] = $_ }
        $elf[16] = 2; $elf[18] = 0xB7; $elf[20] = 1; $elf[52] = 64
        [IO.File]::WriteAllBytes("$work/arm-sh", $elf)
        Invoke-Reference guestfish @('--format=raw', '-a', $c, '-i', 'upload', "$work/arm-sh", '/usr/bin/bash', ':', 'upload', "$work/arm-sh", '/usr/bin/ls') | Out-Null
        (Get-GuestOSInfo -Path $c -Format raw).Architecture | Should -Be 'aarch64'
        Invoke-GuestCommand -Path $c -Format raw -Command 'true' -Confirm:$false -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
        $e2[0].FullyQualifiedErrorId | Should -Match '^NotSupportedForGuest'
        "$($e2[0])" | Should -Match 'aarch64'
    }
}
