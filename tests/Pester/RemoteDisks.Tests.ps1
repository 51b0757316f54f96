# Disks on servers (issue 16): real servers started here on 127.0.0.1 with their own
# ports and sockets, stopped in AfterAll. GuestFs opens them with Open-GuestDisk -Uri and
# the results are compared with ONE guestfish run over the same servers at the end.
# Covered: NBD over TCP and a unix socket (qemu-nbd, export names) and from nbdkit, HTTP
# (busybox httpd, which serves ranges), HTTPS (lighttpd: a self-signed certificate refused, then
# read with -SkipCertificateCheck; basic authentication), FTP and FTPS (vsftpd, anonymous; FTPS
# with implicit TLS), iSCSI (tgtd: an open target and a CHAP one, read-only,
# writable, wrong and missing secrets), SSH (sshd with SFTP, ssh-agent, -SshHostKey;
# read-only and writable; unknown or wrong host key, no agent); read-only opens that write nothing to the server; libvirt
# domains (a test-driver node read with virsh, and its XML) compared with guestfish -d;
# the bad-input errors, and Ctrl+C while a server never answers. Writable: NBD over the unix socket (qemu-nbd serving a qcow2
# copy read-write).

Describe 'Remote disks (nbd, http)' -Tag 'Appliance', 'RemoteDisks' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/Guestfish.ps1
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-remote-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $script:base = Get-GuestFsBaseImage
        $script:servers = [Collections.Generic.List[object]]::new()

        function Get-FreePort {
            $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
            $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p
        }
        function Wait-Port([int] $Port) {
            for ($i = 0; $i -lt 100; $i++) {
                $c = [Net.Sockets.TcpClient]::new()
                try { $c.Connect('127.0.0.1', $Port); return } catch { Start-Sleep -Milliseconds 100 } finally { $c.Dispose() }
            }
            throw "nothing listens on 127.0.0.1:$Port"
        }
        function Start-Server([string] $File, [string[]] $Arguments) {
            $p = Start-Process -FilePath $File -ArgumentList $Arguments -PassThru -RedirectStandardError (Join-Path $work "$([guid]::NewGuid().ToString('N')).err")
            $servers.Add($p)
            $p
        }

        # NBD over TCP: the base image, read-only, export name "gfs".
        $script:nbdPort = Get-FreePort
        Start-Server qemu-nbd @('-r', '-f', 'raw', '-x', 'gfs', '-b', '127.0.0.1', '-p', "$nbdPort", '-t', '-e', '4', $base) | Out-Null
        Wait-Port $nbdPort
        $script:nbdUri = "nbd://127.0.0.1:$nbdPort/gfs"

        # NBD over a unix socket: a writable qcow2 copy of the base, export name "rw".
        $script:served = New-GuestFsTestOverlay $work 'served.qcow2'
        $script:sock = Join-Path $work 'nbd.sock'
        Start-Server qemu-nbd @('-f', 'qcow2', '-x', 'rw', '-k', $sock, '-t', '-e', '4', $served) | Out-Null
        for ($i = 0; $i -lt 100 -and -not (Test-Path $sock); $i++) { Start-Sleep -Milliseconds 100 }
        $script:unixUri = "nbd+unix:///rw?socket=$sock"

        # HTTP: busybox httpd serving a directory holding the base image.
        $script:www = Join-Path $work 'www'
        New-Item -ItemType Directory $www | Out-Null
        New-Item -ItemType SymbolicLink -Path (Join-Path $www 'base.img') -Target $base | Out-Null
        $script:httpPort = Get-FreePort
        Start-Server busybox @('httpd', '-f', '-p', "127.0.0.1:$httpPort", '-h', $www) | Out-Null
        Wait-Port $httpPort
        $script:httpUri = "http://127.0.0.1:$httpPort/base.img"

        # NBD from nbdkit's file plugin (read-only; nbdkit serves one export whatever its name).
        $script:nbdkitPort = Get-FreePort
        Start-Server nbdkit @('-f', '-r', '-i', '127.0.0.1', '-p', "$nbdkitPort", 'file', "file=$base") | Out-Null
        Wait-Port $nbdkitPort
        $script:nbdkitUri = "nbd://127.0.0.1:$nbdkitPort"

        # A self-signed certificate for 127.0.0.1, for https.
        $tls = Join-Path $work 'tls'
        New-Item -ItemType Directory $tls | Out-Null
        & openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/key.pem" -out "$tls/cert.pem" -days 2 -subj '/CN=127.0.0.1' 2>$null
        if ($LASTEXITCODE) { throw 'openssl could not make the test certificate' }
        Set-Content "$tls/server.pem" ((Get-Content "$tls/cert.pem") + (Get-Content "$tls/key.pem"))

        # HTTPS: lighttpd over the same directory (kept-alive connections, as it is set up out of
        # the box), with /private/ behind http basic authentication (user gfsweb).
        $script:httpsPort = Get-FreePort
        New-Item -ItemType Directory (Join-Path $www 'private') | Out-Null
        New-Item -ItemType SymbolicLink -Path (Join-Path $www 'private/base.img') -Target $base | Out-Null
        Set-Content "$work/lighttpd.users" 'gfsweb:gfs-web-secret'
        @(
            "server.document-root = `"$www`"", 'server.bind = "127.0.0.1"', "server.port = $httpsPort",
            'server.modules += ( "mod_openssl", "mod_auth", "mod_authn_file" )', 'ssl.engine = "enable"', "ssl.pemfile = `"$tls/server.pem`"",
            "server.errorlog = `"$work/lighttpd.log`"", 'auth.backend = "plain"', "auth.backend.plain.userfile = `"$work/lighttpd.users`"",
            'auth.require = ( "/private/" => ( "method" => "basic", "realm" => "gfs", "require" => "valid-user" ) )',
            'mimetype.assign = ( "" => "application/octet-stream" )'
        ) | Set-Content "$work/lighttpd.conf"
        Start-Server lighttpd @('-D', '-f', "$work/lighttpd.conf") | Out-Null
        Wait-Port $httpsPort
        $script:httpsUri = "https://127.0.0.1:$httpsPort/base.img"

        # FTP: vsftpd, anonymous, read-only, chrooted to a directory holding a copy of the base
        # image (a symlink would point outside the chroot); a second vsftpd serves the same
        # directory over implicit TLS (ftps://, port 990's protocol) with the test certificate.
        $ftpRoot = Join-Path $work 'ftp'
        $ftpEmpty = Join-Path $work 'ftp-empty'
        New-Item -ItemType Directory $ftpRoot, $ftpEmpty | Out-Null
        & cp --sparse=always $base (Join-Path $ftpRoot 'base.img')
        & chmod 0755 $work $ftpRoot $ftpEmpty
        $script:ftpPort = Get-FreePort
        $ftpConf = @(
            'listen=YES', 'listen_ipv6=NO', 'listen_address=127.0.0.1', 'background=NO',
            'anonymous_enable=YES', 'no_anon_password=YES', 'local_enable=NO', 'write_enable=NO', "anon_root=$ftpRoot",
            "secure_chroot_dir=$ftpEmpty", 'pasv_enable=YES', 'pasv_address=127.0.0.1', 'seccomp_sandbox=NO',
            'xferlog_enable=NO', 'dirmessage_enable=NO', 'connect_from_port_20=NO'
        )
        ($ftpConf + "listen_port=$ftpPort") | Set-Content "$work/vsftpd.conf"
        Start-Server vsftpd @("$work/vsftpd.conf") | Out-Null
        Wait-Port $ftpPort
        $script:ftpUri = "ftp://127.0.0.1:$ftpPort/base.img"
        $script:ftpsPort = Get-FreePort
        ($ftpConf + @(
            "listen_port=$ftpsPort", 'ssl_enable=YES', 'implicit_ssl=YES', 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES',
            'force_anon_data_ssl=YES', "rsa_cert_file=$tls/cert.pem", "rsa_private_key_file=$tls/key.pem",
            'require_ssl_reuse=NO', 'ssl_ciphers=HIGH'
        )) | Set-Content "$work/vsftpd-tls.conf"
        Start-Server vsftpd @("$work/vsftpd-tls.conf") | Out-Null
        Wait-Port $ftpsPort
        $script:ftpsUri = "ftps://127.0.0.1:$ftpsPort/base.img"

        # iSCSI: tgtd (userspace target, run as root, own control socket and portal) with two
        # targets over a sparse raw copy of the base image: one open, one with CHAP.
        $script:lunFile = Join-Path $work 'lun.img'
        & cp --sparse=always $base $lunFile
        New-Item -ItemType Directory -Force -Path /run/tgtd | Out-Null
        $script:tgtControl = 100 + $PID % 800
        $script:iscsiPort = Get-FreePort
        Start-Server tgtd @('-f', '-C', "$tgtControl", '--iscsi', "portal=127.0.0.1:$iscsiPort") | Out-Null
        Wait-Port $iscsiPort
        function Invoke-Tgtadm([string[]] $Arguments) {
            $out = & tgtadm -C $tgtControl --lld iscsi @Arguments 2>&1
            if ($LASTEXITCODE) { throw "tgtadm $($Arguments -join ' ') failed: $out" }
        }
        $script:iqnPlain = 'iqn.2026-12.test.guestfs:plain'
        $script:iqnChap = 'iqn.2026-12.test.guestfs:chap'
        $tid = 1
        foreach ($iqn in $iqnPlain, $iqnChap) {
            Invoke-Tgtadm @('--op', 'new', '--mode', 'target', '--tid', "$tid", '-T', $iqn)
            Invoke-Tgtadm @('--op', 'new', '--mode', 'logicalunit', '--tid', "$tid", '--lun', '1', '-b', $lunFile)
            Invoke-Tgtadm @('--op', 'bind', '--mode', 'target', '--tid', "$tid", '-I', 'ALL')
            $tid++
        }
        Invoke-Tgtadm @('--op', 'new', '--mode', 'account', '--user', 'gfsuser', '--password', 'gfs-chap-secret')
        Invoke-Tgtadm @('--op', 'bind', '--mode', 'account', '--tid', '2', '--user', 'gfsuser')
        $script:iscsiUri = "iscsi://127.0.0.1:$iscsiPort/$iqnPlain/1"
        $script:chapUri = "iscsi://127.0.0.1:$iscsiPort/$iqnChap/1"

        # SSH: an sshd of our own (SFTP inside) on a free port with a host key made here, and
        # an ssh-agent holding the client key. libssh (qemu's ssh driver) reads the account's
        # ~/.ssh/known_hosts whatever $HOME says, so the host key is given with -SshHostKey.
        $ssh = Join-Path $work 'ssh'
        New-Item -ItemType Directory $ssh | Out-Null
        & ssh-keygen -q -t ed25519 -N '' -f "$ssh/hostkey" | Out-Null
        & ssh-keygen -q -t ed25519 -N '' -f "$ssh/clientkey" | Out-Null
        Copy-Item "$ssh/clientkey.pub" "$ssh/authorized_keys"
        if (-not (Test-Path /run/sshd)) { New-Item -ItemType Directory -Path /run/sshd | Out-Null }
        $script:sshPort = Get-FreePort
        @(
            "Port $sshPort", 'ListenAddress 127.0.0.1', "HostKey $ssh/hostkey", "PidFile $ssh/sshd.pid",
            "AuthorizedKeysFile $ssh/authorized_keys", 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
            'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no',
            'Subsystem sftp internal-sftp', 'LogLevel ERROR'
        ) | Set-Content "$ssh/sshd_config"
        Start-Server /usr/sbin/sshd @('-D', '-e', '-f', "$ssh/sshd_config") | Out-Null
        Wait-Port $sshPort
        $script:agentSocket = Join-Path $ssh 'agent.sock'
        Start-Server ssh-agent @('-D', '-a', $agentSocket) | Out-Null
        for ($i = 0; $i -lt 100 -and -not (Test-Path $agentSocket); $i++) { Start-Sleep -Milliseconds 100 }
        $env:SSH_AUTH_SOCK = $agentSocket
        try { & ssh-add -q "$ssh/clientkey" 2>$null; if ($LASTEXITCODE) { throw 'ssh-add failed' } }
        finally { $env:SSH_AUTH_SOCK = $null }
        $script:sshFingerprint = ((& ssh-keygen -lf "$ssh/hostkey.pub") -split ' ')[1]
        $script:sshDisk = Join-Path $work 'ssh-disk.img'
        & cp --sparse=always $base $sshDisk
        $script:sshUri = "ssh://root@127.0.0.1:$sshPort$sshDisk"

        $script:ours = @{}
        $script:Snapshot = {
            param($d, [string] $device, [string] $key)
            Invoke-GuestFsApi -Disk $d mount_ro -Arguments @{ mountable = $device; mountpoint = '/' }
            $script:ours["$key.ls"] = @(Invoke-GuestFsApi -Disk $d ls -Arguments @{ directory = '/data/small' })
            $script:ours["$key.md5"] = Invoke-GuestFsApi -Disk $d checksum -Arguments @{ csumtype = 'md5'; path = '/data/big.bin' }
            Invoke-GuestFsApi -Disk $d umount_all
        }
    }
    AfterAll {
        Close-GuestDisk -All -ErrorAction SilentlyContinue
        foreach ($p in $servers) { Stop-Process -Id $p.Id -Force -ErrorAction SilentlyContinue; $p.WaitForExit(5000) | Out-Null }
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }

    It 'opens NBD over TCP and a unix socket, and HTTP, in one read-only session' {
        $d = Open-GuestDisk -Uri $nbdUri, $unixUri, $httpUri
        try {
            $d.ReadOnly | Should -BeTrue
            @(Invoke-GuestFsApi -Disk $d list_devices) | Should -Be @('/dev/sda', '/dev/sdb', '/dev/sdc')
            & $Snapshot $d '/dev/sda1' 'tcp'
            & $Snapshot $d '/dev/sdb1' 'unix'
            & $Snapshot $d '/dev/sdc1' 'http'
            $ours['tcp.ls'].Count | Should -Be 50
            $ours['http.md5'] | Should -Be $ours['tcp.md5']
        }
        finally { Close-GuestDisk -Disk $d }
    }

    It 'nbdkit, ftp, https and ftps in one read-only session; self-signed certificates are refused without -SkipCertificateCheck' {
        foreach ($u in $httpsUri, $ftpsUri) {
            $e = { Open-GuestDisk -Uri $u } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match 'certificate'
            $e.Exception.Message | Should -Match 'SkipCertificateCheck'
            $e.Exception.Message | Should -BeLike "*$u*"
        }
        $d = Open-GuestDisk -Uri $nbdkitUri, $ftpUri, $httpsUri, $ftpsUri -SkipCertificateCheck
        try {
            $d.ReadOnly | Should -BeTrue
            @(Invoke-GuestFsApi -Disk $d list_devices) | Should -Be @('/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/sdd')
            & $Snapshot $d '/dev/sda1' 'nbdkit'
            & $Snapshot $d '/dev/sdb1' 'ftp'
            & $Snapshot $d '/dev/sdc1' 'https'
            & $Snapshot $d '/dev/sdd1' 'ftps'
            foreach ($k in 'nbdkit', 'ftp', 'https', 'ftps') {
                $ours["$k.ls"].Count | Should -Be 50
                $ours["$k.md5"] | Should -Not -BeNullOrEmpty
                $ours["$k.md5"] | Should -Be $ours['tcp.md5']
            }
            # Every byte of the https disk, read by the appliance with many requests in flight
            # (the load under which qemu 7.2's own curl driver could stop answering), equals
            # the image on the server.
            $want = (Get-FileHash $base -Algorithm MD5).Hash.ToLowerInvariant()
            Invoke-GuestFsApi -Disk $d checksum_device -Arguments @{ csumtype = 'md5'; device = '/dev/sdc' } | Should -Be $want
        }
        finally { Close-GuestDisk -Disk $d }
    }

    It 'http basic authentication: -Credential opens a protected disk; none, or a wrong password, is refused saying -Credential' {
        $protected = "https://127.0.0.1:$httpsPort/private/base.img"
        $good = [pscredential]::new('gfsweb', (ConvertTo-SecureString 'gfs-web-secret' -AsPlainText -Force))
        $d = Open-GuestDisk -Uri $protected -Credential $good -SkipCertificateCheck
        try { & $Snapshot $d '/dev/sda1' 'auth' }
        finally { Close-GuestDisk -Disk $d }
        $ours['auth.md5'] | Should -Be $ours['tcp.md5']
        $bad = [pscredential]::new('gfsweb', (ConvertTo-SecureString 'wrong-web-secret-7' -AsPlainText -Force))
        foreach ($attempt in @(@{ Credential = $bad }, @{})) {
            $e = { Open-GuestDisk -Uri $protected -SkipCertificateCheck @attempt } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match '401'
            $e.Exception.Message | Should -Match '-Credential'
            $e.Exception.Message | Should -Not -Match 'wrong-web-secret-7'
        }
    }

    It 'a server that goes away mid-session makes reads fail with an I/O error within seconds, not hang' {
        $port = Get-FreePort
        $p = Start-Server busybox @('httpd', '-f', '-p', "127.0.0.1:$port", '-h', $www)
        Wait-Port $port
        $d = Open-GuestDisk -Uri "http://127.0.0.1:$port/base.img"
        try {
            Invoke-GuestFsApi -Disk $d mount_ro -Arguments @{ mountable = '/dev/sda1'; mountpoint = '/' }
            Stop-Process -Id $p.Id -Force
            $p.WaitForExit(5000) | Out-Null
            # Bytes near the end of the disk were never read (not in the bridge's cache, nor in
            # the guest's): the guest must ask the server, which is gone.
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $e = { Invoke-GuestFsApi -Disk $d pread_device -Arguments @{ device = '/dev/sda'; count = 4096; offset = 900MB } -ErrorAction Stop } | Should -Throw -PassThru
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 60
            $e.Exception.Message | Should -Match 'Input/output error|EIO'
            # The session still answers.
            @(Invoke-GuestFsApi -Disk $d list_devices) | Should -Be @('/dev/sda')
        }
        finally { Close-GuestDisk -Disk $d }
    }

    It 'http goes through the proxy that http_proxy names, as curl does; no_proxy and servers on this machine go direct' {
        # A server on this machine's own (non-loopback) address, and a "proxy" port where
        # nothing listens: a request sent to the proxy fails naming that port. A machine with
        # no such address (a container with only lo) is named by its host name instead, which
        # resolves (to 127.0.1.1 on Debian) but is not a loopback name to the proxy rules.
        $ip = @(@((& hostname -I 2>$null) -split '\s+') | Where-Object { $_ -match '^\d+\.\d+\.\d+\.\d+$' -and $_ -notlike '127.*' })[0]
        if (-not $ip) { $ip = [Net.Dns]::GetHostName() }
        @([Net.Dns]::GetHostAddresses($ip) | Where-Object AddressFamily -eq InterNetwork).Count | Should -BeGreaterThan 0 -Because "the server is reached as $ip"
        $ip | Should -Not -Be 'localhost'
        $port = Get-FreePort
        Start-Server busybox @('httpd', '-f', '-p', "0.0.0.0:$port", '-h', $www) | Out-Null
        Wait-Port $port
        $deadProxy = Get-FreePort
        # Each case in a new pwsh: .NET reads the proxy variables once per process.
        $open = {
            param([string] $Uri, [hashtable] $Environment)
            $saved = @{}
            foreach ($k in $Environment.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $Environment[$k]) }
            try {
                $cmd = "Import-Module '$((Get-Module GuestFs).Path)'; try { `$d = Open-GuestDisk -Uri '$Uri' -ErrorAction Stop; 'OPENED'; Close-GuestDisk `$d } catch { 'FAILED: ' + `$_.Exception.Message }"
                (& ([Environment]::ProcessPath) "$PSHOME/pwsh.dll" -NoProfile -NonInteractive -Command $cmd) -join ' '
            }
            finally { foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) } }
        }
        $viaProxy = @{ http_proxy = "http://127.0.0.1:$deadProxy"; no_proxy = $null }
        & $open "http://${ip}:$port/base.img" $viaProxy | Should -BeLike "FAILED: *127.0.0.1:$deadProxy*"
        & $open "http://${ip}:$port/base.img" @{ http_proxy = "http://127.0.0.1:$deadProxy"; no_proxy = $ip } | Should -Be 'OPENED'
        & $open "http://127.0.0.1:$port/base.img" $viaProxy | Should -Be 'OPENED'
    }

    It 'Ctrl+C while connecting to a server that never answers leaves no qemu' {
        # A listener that accepts connections (the kernel does, from its backlog) and never speaks.
        $mute = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $mute.Start()
        try {
            $port = $mute.LocalEndpoint.Port
            # qemu-img (the probe before launch) or qemu itself, talking to that port.
            $waiting = {
                @(Get-Process -Name 'qemu-img', 'qemu-system-x86*' -ErrorAction SilentlyContinue | Where-Object {
                    (Get-Content "/proc/$($_.Id)/cmdline" -Raw -ErrorAction SilentlyContinue) -match "\b$port\b" })
            }
            $r = Stop-GuestFsCommandWhen Open-GuestDisk @{ Uri = "nbd://127.0.0.1:$port/never" } { param($ps) (& $waiting).Count -gt 0 } -TimeoutSeconds 20 -DelayMilliseconds 2000
            $r.EndedBeforeStop | Should -BeFalse -Because 'the open must still be waiting for the server when Ctrl+C comes'
            $r.State | Should -Be 'Stopped'
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ((& $waiting).Count -gt 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
            & $waiting | Should -BeNullOrEmpty
        }
        finally { $mute.Stop() }
    }

    It 'iscsi: tgt targets, read-only and writable; CHAP with -Credential, a wrong or missing secret refused within seconds' {
        $d = Open-GuestDisk -Uri $iscsiUri
        try { & $Snapshot $d '/dev/sda1' 'iscsi' }
        finally { Close-GuestDisk -Disk $d }
        $ours['iscsi.ls'].Count | Should -Be 50
        $good = [pscredential]::new('gfsuser', (ConvertTo-SecureString 'gfs-chap-secret' -AsPlainText -Force))
        $d = Open-GuestDisk -Uri $chapUri -Credential $good
        try { & $Snapshot $d '/dev/sda1' 'chap' }
        finally { Close-GuestDisk -Disk $d }
        $ours['chap.md5'] | Should -Be $ours['iscsi.md5']
        $bad = [pscredential]::new('gfsuser', (ConvertTo-SecureString 'not-the-secret-9x' -AsPlainText -Force))
        foreach ($attempt in @(@{ Credential = $bad }, @{})) {
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $e = { Open-GuestDisk -Uri $chapUri @attempt } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 30
            $e.Exception.Message | Should -Match 'Authentication failure|log in'
            $e.Exception.Message | Should -Not -Match 'not-the-secret-9x' -Because 'the secret is never shown'
        }
        # Writable: the write lands in the LUN's file.
        $before = (Get-FileHash $lunFile -Algorithm SHA256).Hash
        $d = Open-GuestDisk -Uri $iscsiUri -Writable
        try {
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
            Set-GuestContent -Disk $d -Path /data/written-over-iscsi.txt -Value 'through tgt'
        }
        finally { Close-GuestDisk -Disk $d }
        (Get-FileHash $lunFile -Algorithm SHA256).Hash | Should -Not -Be $before
    }

    It 'ssh: ssh-agent and -SshHostKey; an unknown host key, a wrong one and a missing agent are refused, saying what to do' {
        $saved = $env:SSH_AUTH_SOCK
        $env:SSH_AUTH_SOCK = $agentSocket
        try {
            $d = Open-GuestDisk -Uri $sshUri -SshHostKey $sshFingerprint
            try { & $Snapshot $d '/dev/sda1' 'ssh' }
            finally { Close-GuestDisk -Disk $d }
            $ours['ssh.ls'].Count | Should -Be 50
            $ours['ssh.md5'] | Should -Be $ours['tcp.md5'] -Because 'the same image over nbd (guestfish cannot take a host key)'
            $e = { Open-GuestDisk -Uri $sshUri } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match 'known_hosts'
            $e.Exception.Message | Should -Match '-SshHostKey'
            $e = { Open-GuestDisk -Uri $sshUri -SshHostKey ('0' * 64) } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -BeLike "*$sshUri*"
            # Writable: the write lands in the file on the server.
            $before = (Get-FileHash $sshDisk -Algorithm SHA256).Hash
            $d = Open-GuestDisk -Uri $sshUri -SshHostKey $sshFingerprint -Writable
            try {
                Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
                Set-GuestContent -Disk $d -Path /data/written-over-ssh.txt -Value 'through sftp'
            }
            finally { Close-GuestDisk -Disk $d }
            (Get-FileHash $sshDisk -Algorithm SHA256).Hash | Should -Not -Be $before
            $env:SSH_AUTH_SOCK = $null
            $e = { Open-GuestDisk -Uri $sshUri -SshHostKey $sshFingerprint } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match 'ssh-agent'
            { Open-GuestDisk -Uri $nbdUri -SshHostKey $sshFingerprint } | Should -Throw -ErrorId 'BadDiskUri,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
        }
        finally { $env:SSH_AUTH_SOCK = $saved }
    }

    It 'a read-only open writes nothing to the server, even when the guest writes' {
        $before = (Get-FileHash $served -Algorithm SHA256).Hash
        $d = Open-GuestDisk -Uri $unixUri
        try {
            # The daemon may write (this mount replays and updates the journal; the file is
            # written): all of it must land in the local overlay.
            Invoke-GuestFsApi -Disk $d mount -Arguments @{ mountable = '/dev/sda1'; mountpoint = '/' }
            Invoke-GuestFsApi -Disk $d write -Arguments @{ path = '/data/only-in-overlay.txt'; content = [Text.Encoding]::UTF8.GetBytes('x') }
            Invoke-GuestFsApi -Disk $d sync
        }
        finally { Close-GuestDisk -Disk $d }
        (Get-FileHash $served -Algorithm SHA256).Hash | Should -Be $before
    }

    It 'a writable open writes through to the server; -Format raw is checked against what the server holds' {
        $before = (Get-FileHash $served -Algorithm SHA256).Hash
        $d = Open-GuestDisk -Uri $unixUri -Writable -Format raw
        try {
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
            Set-GuestContent -Disk $d -Path /data/written-over-nbd.txt -Value 'through the server'
        }
        finally { Close-GuestDisk -Disk $d }
        (Get-FileHash $served -Algorithm SHA256).Hash | Should -Not -Be $before
        $d = Open-GuestDisk -Uri $unixUri
        try {
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ReadOnly
            Get-GuestContent -Disk $d -Path /data/written-over-nbd.txt | Should -Be 'through the server'
        }
        finally { Close-GuestDisk -Disk $d }
        # A qcow2 file served as it is (not decoded by the server) is detected as qcow2, not as "http".
        Copy-Item $served (Join-Path $www 'served.qcow2')
        $e = { Open-GuestDisk -Uri "http://127.0.0.1:$httpPort/served.qcow2" -Format raw } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match 'is a qcow2 image, not raw'
    }

    It 'agrees with guestfish on the same servers' {
        # One guestfish run over the TCP NBD (qemu-nbd and nbdkit), HTTP, iSCSI and FTP servers
        # (one cold boot); guestfish 1.48's -a does not take the nbd+unix:// form, and cannot
        # skip a certificate check (https, ftps).
        $h = Start-Guestfish -Images @($nbdUri, $httpUri, $iscsiUri, $nbdkitUri, $ftpUri) -Format raw -Directory $work
        try {
            foreach ($pair in @(@('tcp', '/dev/sda1'), @('http', '/dev/sdb1'), @('iscsi', '/dev/sdc1'), @('nbdkit', '/dev/sdd1'), @('ftp', '/dev/sde1'))) {
                (Invoke-Guestfish $h 'mount-ro' @($pair[1], '/')).Ok | Should -BeTrue
                $ls = Invoke-Guestfish $h 'ls' @('/data/small')
                $ls.Ok | Should -BeTrue
                @($ls.Output.Trim() -split "`n") | Should -Be $ours["$($pair[0]).ls"]
                (Invoke-Guestfish $h 'checksum' @('md5', '/data/big.bin')).Output.Trim() | Should -Be $ours["$($pair[0]).md5"]
                (Invoke-Guestfish $h 'umount-all').Ok | Should -BeTrue
            }
        }
        finally { Stop-Guestfish $h }
    }

    It 'the fleet cmdlets and Copy-GuestItem take -Uri lists: one session per URI, results named by URI, a dead server an error of its own' {
        $down = "nbd://127.0.0.1:$(Get-FreePort)/gfs"
        $fs = @(Get-GuestFileSystem -Uri $nbdUri, $httpUri, $down -ThrottleLimit 2 -ErrorVariable ev -ErrorAction SilentlyContinue)
        @($fs.ImagePath | Sort-Object -Unique) | Should -Be @($httpUri, $nbdUri | Sort-Object)
        foreach ($u in $nbdUri, $httpUri) {
            @($fs | Where-Object ImagePath -eq $u | ForEach-Object { "$($_.Device)=$($_.Type)" }) | Should -Contain '/dev/sda1=ext4'
        }
        @($ev).Count | Should -Be 1
        "$($ev[0])" | Should -BeLike "*$down*"
        $local = Open-GuestDisk -Path $base -Format raw
        try { $expected = @(Get-GuestDiskUsage -Disk $local | ForEach-Object { "$($_.FileSystem) $($_.Size) $($_.Used)" }) }
        finally { Close-GuestDisk -Disk $local }
        @(Get-GuestDiskUsage -Uri $nbdUri | ForEach-Object { "$($_.FileSystem) $($_.Size) $($_.Used)" }) | Should -Be $expected
        { Get-GuestOSInfo -Uri 's3://bucket/x.img' } | Should -Throw -ErrorId 'BadDiskUri,GuestFs.PowerShell.Commands.GetGuestOSInfoCommand'
        # Copy-GuestItem -Uri: one directory per disk, named after the last part of its URI path.
        $out = Join-Path $work 'copied-from-uris'
        New-Item -ItemType Directory $out | Out-Null
        $copied = @(Copy-GuestItem -Uri $nbdUri, $httpUri -Path /etc/hostname, /data/small/file01.txt -Destination $out -ThrottleLimit 2 -PassThru)
        $copied.Count | Should -Be 4
        Get-Content (Join-Path $out 'gfs/hostname') -Raw | Should -Be "testhost`n"
        Get-Content (Join-Path $out 'base/hostname') -Raw | Should -Be "testhost`n"
        (Get-FileHash (Join-Path $out "gfs/file01.txt")).Hash | Should -Be (Get-FileHash (Join-Path $out "base/file01.txt")).Hash
        { Copy-GuestItem -Uri 'nbd+unix:///x' -Path /etc/hostname -Destination $out } | Should -Throw -ErrorId 'BadDiskUri,GuestFs.PowerShell.Commands.CopyGuestItemCommand'
    }

    Context 'libvirt domains (add_domain)' {
        BeforeAll {
            # A libvirt test-driver node (no daemon): domain gfsdom, shut off, with a qcow2
            # file disk, a <readonly/> one, an empty CD-ROM drive (skipped, as add_domain
            # skips it) and the TCP NBD server's read-only export; domain gfsrun, running.
            $script:domRw = New-GuestFsTestOverlay $work 'dom-rw.qcow2'
            $script:domRo = New-GuestFsTestOverlay $work 'dom-ro.qcow2'
            $devices = @"
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$domRw'/><target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$domRo'/><target dev='vdb' bus='virtio'/><readonly/></disk>
      <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>
      <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='gfs'><host name='127.0.0.1' port='$nbdPort'/></source><target dev='vdc' bus='virtio'/><readonly/></disk>
"@
            $script:node = Join-Path $work 'node.xml'
            Set-Content -Path $node -Value @"
<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>gfsdom</name><memory>1048576</memory><os><type>hvm</type></os>
    <devices>
$devices
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>gfsrun</name><memory>1048576</memory><os><type>hvm</type></os>
    <devices>
$devices
    </devices>
  </domain>
</node>
"@
            $script:conn = "test://$node"
            $script:domXml = Join-Path $work 'gfsdom.xml'
            & virsh -c $conn dumpxml gfsdom | Set-Content $domXml
            $LASTEXITCODE | Should -Be 0
            $script:runXml = Join-Path $work 'gfsrun.xml'
            & virsh -c $conn dumpxml gfsrun | Set-Content $runXml
            $LASTEXITCODE | Should -Be 0
        }

        It '-DomainXml opens every disk with a source, in order, read-only, and agrees with guestfish -d on the same domain' {
            $d = Open-GuestDisk -DomainXml $domXml
            try {
                $d.ReadOnly | Should -BeTrue
                $d.Paths | Should -Be @($domRw, $domRo, "nbd://127.0.0.1:$nbdPort/gfs")
                @(Invoke-GuestFsApi -Disk $d list_devices) | Should -Be @('/dev/sda', '/dev/sdb', '/dev/sdc')
                & $Snapshot $d '/dev/sda1' 'dom-a'
                & $Snapshot $d '/dev/sdb1' 'dom-b'
                & $Snapshot $d '/dev/sdc1' 'dom-c'
            }
            finally { Close-GuestDisk -Disk $d }
            $h = Start-Guestfish -Images @() -Directory $work -Arguments @('-c', $conn, '-d', 'gfsdom')
            try {
                @((Invoke-Guestfish $h 'list-devices').Output.Trim() -split "`n") | Should -Be @('/dev/sda', '/dev/sdb', '/dev/sdc')
                foreach ($pair in @(@('dom-a', '/dev/sda1'), @('dom-b', '/dev/sdb1'), @('dom-c', '/dev/sdc1'))) {
                    (Invoke-Guestfish $h 'mount-ro' @($pair[1], '/')).Ok | Should -BeTrue
                    @((Invoke-Guestfish $h 'ls' @('/data/small')).Output.Trim() -split "`n") | Should -Be $ours["$($pair[0]).ls"]
                    (Invoke-Guestfish $h 'checksum' @('md5', '/data/big.bin')).Output.Trim() | Should -Be $ours["$($pair[0]).md5"]
                    (Invoke-Guestfish $h 'umount-all').Ok | Should -BeTrue
                }
            }
            finally { Stop-Guestfish $h }
        }

        It '-Domain (through virsh) -Writable writes the disks, except the one the domain marks read-only' {
            $rwBefore = (Get-FileHash $domRw).Hash
            $roBefore = (Get-FileHash $domRo).Hash
            $d = Open-GuestDisk -Domain gfsdom -ConnectionUri $conn -Writable
            try {
                $d.ReadOnly | Should -BeFalse
                foreach ($dev in '/dev/sda1', '/dev/sdb1') {
                    Mount-GuestFs -Disk $d -Device $dev -MountPoint /
                    Set-GuestContent -Disk $d -Path /from-domain.txt -Value $dev
                    Dismount-GuestFs -Disk $d -MountPoint /
                }
            }
            finally { Close-GuestDisk -Disk $d }
            (Get-FileHash $domRw).Hash | Should -Not -Be $rwBefore -Because 'vda is writable'
            (Get-FileHash $domRo).Hash | Should -Be $roBefore -Because 'vdb is <readonly/> in the domain'
        }

        It 'refuses to write a running domain''s disks (by name or from its live XML) unless -Force, before starting anything' {
            $e = { Open-GuestDisk -Domain gfsrun -ConnectionUri $conn -Writable } | Should -Throw -ErrorId 'DomainIsRunning,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match 'running virtual machine.*-Force'
            { Open-GuestDisk -DomainXml $runXml -Writable } | Should -Throw -ErrorId 'DomainIsRunning,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
        }

        It 'bad domains say what is wrong: no such domain, no such file, an unsupported protocol, no disk' {
            $e = { Open-GuestDisk -Domain nosuch -ConnectionUri $conn } | Should -Throw -ErrorId 'DomainNotFound,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match 'nosuch'
            { Open-GuestDisk -DomainXml (Join-Path $work 'missing.xml') } | Should -Throw -ErrorId 'DomainXmlNotFound,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
            $bad = Join-Path $work 'bad.xml'
            Set-Content $bad "<domain><name>b</name><devices><disk type='network'><source protocol='sheepdog' name='x'><host name='h'/></source><target dev='vda'/></disk></devices></domain>"
            $e = { Open-GuestDisk -DomainXml $bad } | Should -Throw -ErrorId 'BadDomain,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match "'sheepdog' is not supported"
            Set-Content $bad "<domain><name>b</name><devices><disk type='file' device='cdrom'><target dev='hdc'/></disk></devices></domain>"
            $e = { Open-GuestDisk -DomainXml $bad } | Should -Throw -ErrorId 'BadDomain,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
            $e.Exception.Message | Should -Match 'has no disk to open'
        }
    }

    It 'a server that is down fails within seconds, naming the URI' {
        $down = "nbd://127.0.0.1:$(Get-FreePort)/gfs"
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $e = { Open-GuestDisk -Uri $down } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 20
        $e.Exception.Message | Should -BeLike "*$down*"
        $e.CategoryInfo.Category | Should -Be 'ConnectionError'
        $e.TargetObject | Should -Be $down
    }

    It 'an unknown export and a missing http file fail with RemoteDiskUnavailable' {
        { Open-GuestDisk -Uri "nbd://127.0.0.1:$nbdPort/nosuch" } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
        { Open-GuestDisk -Uri "http://127.0.0.1:$httpPort/nosuch.img" } | Should -Throw -ErrorId 'RemoteDiskUnavailable,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
    }

    It 'an unsupported scheme lists the supported ones; a malformed URI says what is wrong' {
        $e = { Open-GuestDisk -Uri 's3://bucket/disk.img' } | Should -Throw -ErrorId 'BadDiskUri,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
        $e.Exception.Message | Should -BeLike '*nbd://*iscsi://*'
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e = { Open-GuestDisk -Uri 'nbd+unix:///rw' } | Should -Throw -ErrorId 'BadDiskUri,GuestFs.PowerShell.Commands.OpenGuestDiskCommand' -PassThru
        $e.Exception.Message | Should -BeLike '*socket=*'
        { Open-GuestDisk -Uri $httpUri -Writable } | Should -Throw -ErrorId 'AddDriveFailed,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
    }
}
