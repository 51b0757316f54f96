# Remote-disk rows of the benchmark (issue 16): open-to-first-listing and a 128 MiB download
# over NBD (qemu-nbd) and over HTTP (busybox httpd), guestfish against GuestFs on the same
# servers, alternating which side goes first. Whole runs are timed: guestfish boots its own
# appliance each time, GuestFs launches as a user's session does (warm when it can). Run by
# bench/section.ps1 -Name remote (which bench/run.ps1 calls), with its parameters in scope.
$work = Initialize-BenchSection $ModulePath 'remote' @('guestfish', 'qemu-nbd', 'busybox')
$begin = '<!-- remote disks: begin -->'
$end = '<!-- remote disks: end -->'
$servers = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()
function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
function Wait-Port([int] $Port) {
    for ($i = 0; $i -lt 100; $i++) {
        $c = [Net.Sockets.TcpClient]::new()
        try { $c.Connect('127.0.0.1', $Port); return } catch { Start-Sleep -Milliseconds 100 } finally { $c.Dispose() }
    }
    throw "nothing listens on 127.0.0.1:$Port"
}

try {
    # ---------------- the image: 1 GiB raw, one ext4 partition with a 128 MiB random file
    # and a directory of 200 small files; served by qemu-nbd and by busybox httpd.
    Write-Host "## remote disks: building the image in $work"
    $www = Join-Path $work 'www'
    New-Item -ItemType Directory $www | Out-Null
    $img = Join-Path $www 'disk.img'
    & truncate -s 1G $img
    & bash -c "head -c 128M /dev/urandom > '$work/big.bin'"
    $fish = @('run', 'part-disk /dev/sda mbr', 'mkfs ext4 /dev/sda1', 'mount /dev/sda1 /', "upload $work/big.bin /big.bin", 'mkdir /small')
    foreach ($i in 1..200) { $fish += "write /small/f$i.txt `"file $i`"" }
    $fish += 'umount /'
    Set-Content "$work/build.gf" $fish
    $null = Invoke-BenchTool guestfish @('--format=raw', '-a', $img, '-f', "$work/build.gf")
    $bigHash = (Get-FileHash "$work/big.bin" -Algorithm SHA256).Hash

    $nbdPort = Get-FreePort
    $servers.Add((Start-Process qemu-nbd -ArgumentList @('-r', '-f', 'raw', '-x', 'disk', '-b', '127.0.0.1', '-p', "$nbdPort", '-t', '-e', '8', $img) -PassThru))
    Wait-Port $nbdPort
    $httpPort = Get-FreePort
    $servers.Add((Start-Process busybox -ArgumentList @('httpd', '-f', '-p', "127.0.0.1:$httpPort", '-h', $www) -PassThru))
    Wait-Port $httpPort
    $uris = [ordered]@{ NBD = "nbd://127.0.0.1:$nbdPort/disk"; HTTP = "http://127.0.0.1:$httpPort/disk.img" }

    $results = [ordered]@{}
    function Add-Result([string] $Workload, [string] $Side, [double] $Seconds) {
        if (-not $results[$Workload]) { $results[$Workload] = @{} }
        if (-not $results[$Workload][$Side]) { $results[$Workload][$Side] = [System.Collections.Generic.List[double]]::new() }
        $results[$Workload][$Side].Add($Seconds)
    }
    $order = [System.Collections.Generic.List[string]]::new()
    for ($round = 1; $round -le $Rounds; $round++) {
        Write-Host "## remote disks: round $round"
        $tools = {
            foreach ($k in $uris.Keys) {
                $sw = [Diagnostics.Stopwatch]::StartNew()
                $ls = Invoke-BenchTool guestfish @('--ro', '--format=raw', '-a', $uris[$k], 'run', ':', 'mount-ro', '/dev/sda1', '/', ':', 'ls', '/small')
                Add-Result "open, mount and list 200 files over $k" 'guestfish' $sw.Elapsed.TotalSeconds
                if (@($ls.Trim() -split "`n").Count -ne 200) { throw "guestfish listed $(@($ls.Trim() -split "`n").Count) files over $k" }
                $out = "$work/tool-big.bin"; Remove-Item $out -ErrorAction SilentlyContinue
                $sw.Restart()
                $null = Invoke-BenchTool guestfish @('--ro', '--format=raw', '-a', $uris[$k], 'run', ':', 'mount-ro', '/dev/sda1', '/', ':', 'download', '/big.bin', $out)
                Add-Result "open and download 128 MiB over $k" 'guestfish' $sw.Elapsed.TotalSeconds
                if ((Get-FileHash $out -Algorithm SHA256).Hash -ne $bigHash) { throw "guestfish's download over $k differs" }
                Remove-Item $out
            }
        }
        $ours = {
            foreach ($k in $uris.Keys) {
                $sw = [Diagnostics.Stopwatch]::StartNew()
                $d = Open-GuestDisk -Uri $uris[$k] -Format raw -ProgressAction SilentlyContinue
                try {
                    Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ReadOnly
                    $n = @(Get-GuestChildItem -Disk $d -Path /small).Count
                }
                finally { Close-GuestDisk -Disk $d }
                Add-Result "open, mount and list 200 files over $k" 'GuestFs' $sw.Elapsed.TotalSeconds
                if ($n -ne 200) { throw "GuestFs listed $n files over $k" }
                $out = "$work/ours-big.bin"; Remove-Item $out -ErrorAction SilentlyContinue
                $sw.Restart()
                $d = Open-GuestDisk -Uri $uris[$k] -Format raw -ProgressAction SilentlyContinue
                try {
                    Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ReadOnly
                    Copy-GuestItem -Disk $d -Path /big.bin -Destination $out -ProgressAction SilentlyContinue
                }
                finally { Close-GuestDisk -Disk $d }
                Add-Result "open and download 128 MiB over $k" 'GuestFs' $sw.Elapsed.TotalSeconds
                if ((Get-FileHash $out -Algorithm SHA256).Hash -ne $bigHash) { throw "GuestFs's download over $k differs" }
                Remove-Item $out
            }
        }
        if ($round % 2) { $order.Add("round ${round}: GuestFs first"); . $ours; . $tools }
        else { $order.Add("round ${round}: guestfish first"); . $tools; . $ours }
    }

    $md = [System.Text.StringBuilder]::new()
    $null = $md.AppendLine($begin).AppendLine('## Remote disks: NBD and HTTP').AppendLine()
    $null = $md.AppendLine(('A 1 GiB raw image (one ext4 partition: a 128 MiB random file and 200 small files) served on 127.0.0.1 by qemu-nbd and by busybox httpd. Each row is a whole run from start to exit or close: guestfish boots its own appliance; GuestFs opens the disk as Open-GuestDisk -Uri does for a user (warm when it can), mounts, lists or copies, and closes. Over HTTP guestfish's qemu reads with its curl driver, GuestFs with its own reader behind an NBD socket. Every download is checked against the file''s SHA-256. Side order: {0}. Measured {1}; `bench/section.ps1 -Name remote -UpdateReport` measures this section alone.' -f ($order -join '; '), (Get-Date -Format 'yyyy-MM-dd HH:mm'))).AppendLine()
    $null = $md.AppendLine('| Workload | guestfish median (s) | GuestFs median (s) | ratio per round | median ratio |')
    $null = $md.AppendLine('|---|---|---|---|---|')
    $verdicts = [System.Collections.Generic.List[string]]::new()
    foreach ($w in $results.Keys) {
        $t = $results[$w]['guestfish']; $o = $results[$w]['GuestFs']
        $r = Get-BenchRatios $t $o
        $median = $r.Median
        $null = $md.AppendLine(('| {0} | {1:0.0} | {2:0.0} | {3} | {4:0.00} |' -f $w, (Get-BenchMedian $t), (Get-BenchMedian $o), $r.Text, $median))
        $verdict = Get-BenchVerdict $median
        $verdicts.Add(('- {0}: GuestFs is {1} guestfish in this run (median ratio {2:0.00}).' -f $w, $verdict, $median))
    }
    $null = $md.AppendLine()
    foreach ($v in $verdicts) { $null = $md.AppendLine($v) }
    $null = $md.AppendLine().AppendLine($end)
    Complete-BenchSection $md.ToString() $begin $end $Report -UpdateReport:$UpdateReport
}
finally {
    foreach ($p in $servers) { Stop-Process -Id $p.Id -Force -ErrorAction SilentlyContinue }
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
