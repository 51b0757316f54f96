# Side-by-side benchmark: the same work through guestfish (libguestfs 1.48.6, direct backend,
# TCG forced) and through GuestFs (engine API and cmdlets), alternating, several rounds after a
# warm-up. Prints median/min/max per side, the GuestFs/guestfish ratio per round and its median,
# peak RSS of qemu and of the host process; writes docs/performance.md.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/GuestFs/GuestFs.psd1'),
    [int] $Rounds = 3,
    [int] $SmallCalls = 2000,
    [int] $TransferMB = 256,
    [int] $TreeFiles = 2000,
    [string] $Report = (Join-Path $PSScriptRoot '../docs/performance.md'),
    # BenchmarkDotNet micro-benchmarks of the appliance-free hot paths (bench/Micro).
    [switch] $SkipMicro,
    # Inventory of eight images, sequential and throttled (about_GuestFs_Fleet).
    [switch] $SkipFleet,
    [int] $FleetImages = 8,
    # Optimize-GuestDisk / Resize-GuestDisk against virt-sparsify / virt-resize (bench/section.ps1 -Name hygiene).
    [switch] $SkipHygiene,
    # Open-and-list and a 128 MiB download over NBD and HTTP against guestfish (bench/section.ps1 -Name remote).
    [switch] $SkipRemote,
    # 1,000 paths in one pipelined batch against guestfish's one call at a time (bench/section.ps1 -Name batch).
    [switch] $SkipBatch,
    # Reset-GuestImage on eight images against virt-sysprep run eight times (bench/section.ps1 -Name templates).
    [switch] $SkipTemplates
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
# Get-GuestFsTestCacheDirectory: where the tests cache their images (the fleet rows reuse the Debian one).
. (Join-Path $PSScriptRoot '../tests/Pester/TestSupport.ps1')
if (-not (Get-Command guestfish -ErrorAction SilentlyContinue)) {
    throw "guestfish (the reference to compare with) is not installed: apt-get install -y libguestfs-tools"
}
$env:LIBGUESTFS_BACKEND = 'direct'
$env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg'

$work = Join-Path ([IO.Path]::GetTempPath()) ("guestfs-bench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $work | Out-Null

function Get-Hwm([int] $ProcessId) {
    $line = Get-Content "/proc/$ProcessId/status" -ErrorAction SilentlyContinue | Where-Object { $_ -like 'VmHWM:*' }
    if ($line) { [long](($line -split '\s+')[1]) * 1KB } else { 0 }
}

# Samples the peak RSS (VmHWM) of every qemu and of given host processes while a workload runs.
$sampler = Start-ThreadJob -ArgumentList $work -ScriptBlock {
    param($dir)
    $peaks = @{}
    # Cheap on purpose (plain .NET calls, 250 ms apart): the sampler shares the 2 cores with
    # the workloads it measures. VmHWM is the kernel's own high-water mark, so a process
    # only has to be seen once before it exits.
    while (-not [IO.File]::Exists("$dir/stop-sampler")) {
        foreach ($p in [IO.Directory]::GetDirectories('/proc')) {
            $pidText = [IO.Path]::GetFileName($p)
            if (-not [char]::IsDigit($pidText[0])) { continue }
            try { $name = [IO.File]::ReadAllText("$p/comm").Trim() } catch { continue }
            if (-not ($name.StartsWith('qemu-system') -or $name -eq 'guestfish')) { continue }
            try { $status = [IO.File]::ReadAllLines("$p/status") } catch { continue }
            $hwmLine = $status | Where-Object { $_.StartsWith('VmHWM:') }
            if (-not $hwmLine) { continue }
            $hwm = [long](($hwmLine -split '\s+')[1]) * 1KB
            $key = "$name"
            if (-not $peaks[$key] -or $peaks[$key] -lt $hwm) { $peaks[$key] = $hwm }
        }
        if (Test-Path "$dir/reset-sampler") { Remove-Item "$dir/reset-sampler"; $peaks = @{} }
        if (Test-Path "$dir/dump-sampler") { $peaks | ConvertTo-Json | Set-Content "$dir/peaks.json"; Remove-Item "$dir/dump-sampler" }
        Start-Sleep -Milliseconds 250
    }
}
function Reset-Peaks { New-Item "$work/reset-sampler" -ItemType File -Force | Out-Null; while (Test-Path "$work/reset-sampler") { Start-Sleep -Milliseconds 20 } }
function Get-Peaks {
    New-Item "$work/dump-sampler" -ItemType File -Force | Out-Null
    while (Test-Path "$work/dump-sampler") { Start-Sleep -Milliseconds 20 }
    Get-Content "$work/peaks.json" -Raw | ConvertFrom-Json -AsHashtable
}

# Both sides get the same guest memory: libguestfs and GuestFs both read LIBGUESTFS_MEMSIZE,
# so the qemu memory rows compare like for like.
if (-not $env:LIBGUESTFS_MEMSIZE) { $env:LIBGUESTFS_MEMSIZE = [string][GuestFs.Engine.Session.GuestSessionOptions]::DefaultMemoryMB }
$memSize = [int]$env:LIBGUESTFS_MEMSIZE

try {
    Write-Host "## Preparing images and data in $work"
    $base = "$work/base.img"
    New-GuestDiskImage -Path $base -Size 2GB -FileSystem ext4 | Out-Null
    $d = Open-GuestDisk -Path $base -Writable
    Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
    New-GuestItem -Disk $d -Path /etc -ItemType Directory | Out-Null
    Set-GuestContent -Disk $d -Path /etc/hostname -Value 'bench'
    Close-GuestDisk -Disk $d
    $big = "$work/big.bin"
    $fs = [IO.File]::Create($big); $buf = [byte[]]::new(1MB); $rnd = [Random]::new(7)
    for ($i = 0; $i -lt $TransferMB; $i++) { $rnd.NextBytes($buf); $fs.Write($buf, 0, $buf.Length) }; $fs.Dispose()
    $bigHash = (Get-FileHash $big).Hash
    $tree = "$work/tree"
    foreach ($d in 1..20) { New-Item -ItemType Directory -Force "$tree/d$d" | Out-Null }
    $per = [int]($TreeFiles / 20); $fileBytes = [byte[]]::new(35KB)
    foreach ($d in 1..20) { foreach ($f in 1..$per) { $rnd.NextBytes($fileBytes); [IO.File]::WriteAllBytes("$tree/d$d/f$f.bin", $fileBytes) } }
    $treeMB = [math]::Round((Get-ChildItem $tree -Recurse -File | Measure-Object Length -Sum).Sum / 1MB)

    $results = [ordered]@{}
    function Add-Result([string] $Workload, [string] $Side, [double] $Seconds) {
        if (-not $results[$Workload]) { $results[$Workload] = [ordered]@{} }
        if (-not $results[$Workload][$Side]) { $results[$Workload][$Side] = [System.Collections.Generic.List[double]]::new() }
        $results[$Workload][$Side].Add($Seconds)
    }
    $rss = @{}
    $sideOrder = [System.Collections.Generic.List[string]]::new()
    $stageRows = [System.Collections.Generic.List[object]]::new()
    function Note-Rss([string] $Key, [long] $Bytes) { if (-not $rss[$Key] -or $rss[$Key] -lt $Bytes) { $rss[$Key] = $Bytes } }

    function New-Copy([string] $Name) {
        $p = "$work/$Name.qcow2"; Remove-Item $p -ErrorAction SilentlyContinue
        & qemu-img create -q -f qcow2 -F raw -b $base $p; $p
    }

    for ($round = 0; $round -le $Rounds; $round++) {
        $label = if ($round -eq 0) { 'warm-up' } else { "round $round" }
        Write-Host "## $label"
        $record = $round -gt 0

        # Each side is a block dot-sourced in this scope; the side that goes first alternates
        # from round to round, so neither side always meets a cooler or warmer machine.
        $fishSide = {
            # ---------------- guestfish
            Reset-Peaks
            $sw = [Diagnostics.Stopwatch]::StartNew()
            & guestfish --ro -a $base run | Out-Null
            $gfLaunch = $sw.Elapsed.TotalSeconds
            "run`nmount-ro /dev/sda1 /`nls /`n" | Set-Content "$work/first.gf"
            $sw.Restart(); & guestfish --ro -a $base -f "$work/first.gf" | Out-Null; $gfFirst = $sw.Elapsed.TotalSeconds
            $img = New-Copy gf
            # The calls are timed inside one guestfish run: `! date` (a child process) stamps the
            # wall clock into files right before the first and after the last call.
            (("run`nmount /dev/sda1 /`n! date +%s.%N > $work/gf-t0`n") + ("exists /etc`nstatns /etc/hostname`n" * ($SmallCalls / 2)) + "! date +%s.%N > $work/gf-t1`n") | Set-Content "$work/calls.gf"
            & guestfish -a $img -f "$work/calls.gf" | Out-Null
            $gfCalls = [double](Get-Content "$work/gf-t1") - [double](Get-Content "$work/gf-t0")
            @(
                'run', 'mount /dev/sda1 /',
                "time upload $big /big.bin", "time download /big.bin $work/gf-big.out",
                "time copy-in $tree /", "! mkdir -p $work/gf-out", "time copy-out /tree $work/gf-out",
                'time find /tree'
            ) -join "`n" | Set-Content "$work/main.gf"
            $out = & guestfish -a $img -f "$work/main.gf" 2>&1 | Out-String
            $times = [regex]::Matches($out, 'elapsed time: ([\d.]+) seconds') | ForEach-Object { [double]$_.Groups[1].Value }
            if ($times.Count -ne 5) { throw "guestfish run did not report 5 timings:`n$out" }
            if ((Get-FileHash "$work/gf-big.out").Hash -ne $bigHash) { throw 'guestfish download differs from the upload' }
            # virt-ls -R --checksum: a whole tool run (its own appliance) hashing every file of the tree.
            $sw.Restart()
            $vls = @(& virt-ls -lR --csv --checksum=sha256 --format=qcow2 -a $img -m /dev/sda1 /tree)
            $gfHash = $sw.Elapsed.TotalSeconds
            if ($LASTEXITCODE) { throw "virt-ls --checksum failed with exit code $LASTEXITCODE" }
            $script:fishSums = @{}
            foreach ($l in $vls) { $f = $l -split ','; if ($f[0] -eq '-') { $fishSums[$f[4]] = $f[3] } }
            if ($fishSums.Count -ne $TreeFiles) { throw "virt-ls --checksum listed $($fishSums.Count) files, expected $TreeFiles" }
            $peaks = Get-Peaks
            if ($record) {
                Add-Result 'launch + close' guestfish $gfLaunch
                Add-Result 'launch + close, cold boot forced' guestfish $gfLaunch
                Add-Result 'open, mount, first listing, close' guestfish $gfFirst
                Add-Result "$SmallCalls small calls (exists, stat)" guestfish $gfCalls
                Add-Result "upload $TransferMB MiB" guestfish $times[0]
                Add-Result "download $TransferMB MiB" guestfish $times[1]
                Add-Result "copy-in tree ($TreeFiles files, $treeMB MB)" guestfish $times[2]
                Add-Result "copy-out tree ($TreeFiles files, $treeMB MB)" guestfish $times[3]
                Add-Result "recursive listing of the tree" guestfish $times[4]
                Add-Result "hash every file of the tree (virt-ls -R --checksum / Get-GuestFileHash -Recurse, whole run)" guestfish $gfHash
                Note-Rss 'guestfish: qemu' ($peaks['qemu-system-x86'] ?? 0)
                Note-Rss 'guestfish: host process' ($peaks['guestfish'] ?? 0)
            }
            Remove-Item -Recurse -Force "$work/gf-out", "$work/gf-big.out" -ErrorAction SilentlyContinue

        }
        $oursSide = {
            # ---------------- GuestFs engine API
            Reset-Peaks
            $sw.Restart()
            $s = [GuestFs.Engine.Session.GuestSession]::new([GuestFs.Engine.Session.GuestSessionOptions]::FromEnvironment())
            $null = $s.AddDrive($base, [GuestFs.Engine.Session.DriveOptions]@{ Format = 'raw' })
            $s.Launch(); $s.Dispose()
            $engLaunch = $sw.Elapsed.TotalSeconds
            $sw.Restart()
            $env:GUESTFS_COLD_START = '1'
            try { $coldOptions = [GuestFs.Engine.Session.GuestSessionOptions]::FromEnvironment() } finally { Remove-Item Env:GUESTFS_COLD_START }
            $s = [GuestFs.Engine.Session.GuestSession]::new($coldOptions)
            $null = $s.AddDrive($base, [GuestFs.Engine.Session.DriveOptions]@{ Format = 'raw' })
            $s.Launch(); $s.Dispose()
            $engCold = $sw.Elapsed.TotalSeconds
            $img = New-Copy eng
            $s = [GuestFs.Engine.Session.GuestSession]::new([GuestFs.Engine.Session.GuestSessionOptions]::FromEnvironment())
            $null = $s.AddDrive($img, [GuestFs.Engine.Session.DriveOptions]@{ Format = 'qcow2'; ReadOnly = $false })
            $s.Launch(); $s.Mount('/dev/sda1', '/')
            $sw.Restart(); for ($i = 0; $i -lt $SmallCalls / 2; $i++) { $null = $s.Exists('/etc'); $null = $s.Statns('/etc/hostname') }; $engCalls = $sw.Elapsed.TotalSeconds
            $sw.Restart(); $fsIn = [IO.File]::OpenRead($big); $s.Upload($fsIn, '/big.bin'); $fsIn.Dispose(); $engUp = $sw.Elapsed.TotalSeconds
            $sw.Restart(); $fsOut = [IO.File]::Create("$work/eng-big.out"); $s.Download('/big.bin', $fsOut); $fsOut.Dispose(); $engDown = $sw.Elapsed.TotalSeconds
            if ((Get-FileHash "$work/eng-big.out").Hash -ne $bigHash) { throw 'engine download differs from the upload' }
            $sw.Restart(); $null = $s.CopyInAsync($tree, '/').GetAwaiter().GetResult(); $engIn = $sw.Elapsed.TotalSeconds
            New-Item -ItemType Directory "$work/eng-out" | Out-Null
            $sw.Restart(); $null = $s.CopyOutAsync('/tree', "$work/eng-out").GetAwaiter().GetResult(); $engOut = $sw.Elapsed.TotalSeconds
            $sw.Restart(); $null = $s.GetTreeAsync('/tree').GetAwaiter().GetResult(); $engList = $sw.Elapsed.TotalSeconds
            $engQemu = Get-Hwm $s.QemuProcessId
            $s.Dispose()
            if ($record) {
                Add-Result 'launch + close' 'GuestFs engine' $engLaunch
                Add-Result 'launch + close, cold boot forced' 'GuestFs engine' $engCold
                Add-Result "$SmallCalls small calls (exists, stat)" 'GuestFs engine' $engCalls
                Add-Result "upload $TransferMB MiB" 'GuestFs engine' $engUp
                Add-Result "download $TransferMB MiB" 'GuestFs engine' $engDown
                Add-Result "copy-in tree ($TreeFiles files, $treeMB MB)" 'GuestFs engine' $engIn
                Add-Result "copy-out tree ($TreeFiles files, $treeMB MB)" 'GuestFs engine' $engOut
                Add-Result "recursive listing of the tree" 'GuestFs engine' $engList
                Note-Rss 'GuestFs: qemu' $engQemu
            }
            Remove-Item -Recurse -Force "$work/eng-out", "$work/eng-big.out" -ErrorAction SilentlyContinue

            # ---------------- GuestFs cmdlets
            $sw.Restart()
            $d = Open-GuestDisk -Path $base; Close-GuestDisk -Disk $d
            $cmdLaunch = $sw.Elapsed.TotalSeconds
            $sw.Restart(); $d = Open-GuestDisk -Path $base -ColdStart; Close-GuestDisk -Disk $d; $cmdCold = $sw.Elapsed.TotalSeconds
            $sw.Restart()
            $d = Open-GuestDisk -Path $base
            $tOpen = $sw.Elapsed.TotalSeconds
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
            $tMount = $sw.Elapsed.TotalSeconds - $tOpen
            $null = Get-GuestChildItem -Disk $d /
            $stages = $d.LaunchStages
            Close-GuestDisk -Disk $d
            $cmdFirst = $sw.Elapsed.TotalSeconds
            if ($record) {
                $stageRows.Add([pscustomobject]@{ Round = $round; Mode = $d.LaunchMode; Restore = $stages['warm-restore']; FirstReply = $stages['warm-first-reply']; HotPlug = $stages['warm-hotplug']; Mount = [math]::Round($tMount, 3); Total = [math]::Round($cmdFirst, 3) })
            }
            $img = New-Copy cmd
            $d = Open-GuestDisk -Path $img -Writable -Format qcow2
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
            $sw.Restart(); for ($i = 0; $i -lt $SmallCalls / 2; $i++) { $null = Test-GuestPath -Disk $d -LiteralPath /etc; $null = Get-GuestItem -Disk $d -LiteralPath /etc/hostname }; $cmdCalls = $sw.Elapsed.TotalSeconds
            $sw.Restart(); Copy-GuestItem -Disk $d -LocalPath $big -Destination /big.bin -ProgressAction SilentlyContinue; $cmdUp = $sw.Elapsed.TotalSeconds
            New-Item -ItemType Directory "$work/cmd-out" | Out-Null
            $sw.Restart(); Copy-GuestItem -Disk $d /big.bin -Destination "$work/cmd-out/big.out" -ProgressAction SilentlyContinue; $cmdDown = $sw.Elapsed.TotalSeconds
            if ((Get-FileHash "$work/cmd-out/big.out").Hash -ne $bigHash) { throw 'Copy-GuestItem download differs from the upload' }
            $sw.Restart(); Copy-GuestItem -Disk $d -LocalPath $tree -Destination / -Recurse -ProgressAction SilentlyContinue; $cmdIn = $sw.Elapsed.TotalSeconds
            $sw.Restart(); Copy-GuestItem -Disk $d /tree -Destination "$work/cmd-out/tree" -Recurse -ProgressAction SilentlyContinue; $cmdOut = $sw.Elapsed.TotalSeconds
            $sw.Restart(); $n = (Get-GuestChildItem -Disk $d /tree -Recurse).Count; $cmdList = $sw.Elapsed.TotalSeconds
            if ($n -ne $TreeFiles + 20) { throw "listing found $n entries, expected $($TreeFiles + 20)" }
            $cmdQemu = Get-Hwm $d.ProcessId
            Close-GuestDisk -Disk $d
            # The same as virt-ls -R --checksum: open, mount, hash every file of the tree, close.
            $sw.Restart()
            $d = Open-GuestDisk -Path $img -Format qcow2
            Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ReadOnly
            $sums = @(Get-GuestFileHash -Disk $d /tree -Recurse -Algorithm SHA256)
            Close-GuestDisk -Disk $d
            $cmdHash = $sw.Elapsed.TotalSeconds
            $script:oursSums = @{}; foreach ($h in $sums) { $oursSums[$h.Path] = $h.Hash.ToLowerInvariant() }
            if ($oursSums.Count -ne $TreeFiles) { throw "Get-GuestFileHash -Recurse hashed $($oursSums.Count) files, expected $TreeFiles" }
            if ($record) {
                Add-Result 'launch + close' 'GuestFs cmdlets' $cmdLaunch
                Add-Result 'launch + close, cold boot forced' 'GuestFs cmdlets' $cmdCold
                Add-Result 'open, mount, first listing, close' 'GuestFs cmdlets' $cmdFirst
                Add-Result "$SmallCalls small calls (exists, stat)" 'GuestFs cmdlets' $cmdCalls
                Add-Result "upload $TransferMB MiB" 'GuestFs cmdlets' $cmdUp
                Add-Result "download $TransferMB MiB" 'GuestFs cmdlets' $cmdDown
                Add-Result "copy-in tree ($TreeFiles files, $treeMB MB)" 'GuestFs cmdlets' $cmdIn
                Add-Result "copy-out tree ($TreeFiles files, $treeMB MB)" 'GuestFs cmdlets' $cmdOut
                Add-Result "recursive listing of the tree" 'GuestFs cmdlets' $cmdList
                Add-Result "hash every file of the tree (virt-ls -R --checksum / Get-GuestFileHash -Recurse, whole run)" 'GuestFs cmdlets' $cmdHash
                Note-Rss 'GuestFs: qemu' $cmdQemu
            }
            Remove-Item -Recurse -Force "$work/cmd-out" -ErrorAction SilentlyContinue
        }
        $order = if ($round % 2) { 'GuestFs first' } else { 'guestfish first' }
        if ($record) { $sideOrder.Add("round ${round}: $order") }
        if ($round % 2) { . $oursSide; . $fishSide } else { . $fishSide; . $oursSide }
        # Both sides hashed the same host tree: every file's SHA256 must agree.
        foreach ($k in $fishSums.Keys) { if ($oursSums[$k] -ne $fishSums[$k]) { throw "hash of $k differs: virt-ls $($fishSums[$k]), GuestFs $($oursSums[$k])" } }
    }

    # ---------------- host memory, measured in fresh processes so the harness's own data does not count
    Write-Host '## host memory'
    $hostAbove = 0; $transferAlloc = 0
    $pwshExe = [Environment]::ProcessPath
    $pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension($pwshExe) -eq 'dotnet') { "$PSHOME/pwsh.dll" })
    $idleScript = 'Get-Content /proc/self/status | Where-Object { $_ -like "VmHWM:*" }'
    $idleLine = & $pwshExe @pwshArgs -NoProfile -NonInteractive -Command $idleScript
    $idleKb = [long](($idleLine -split '\s+')[1])
    $img = New-Copy mem
    $memScript = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$ModulePath'
`$d = Open-GuestDisk -Path '$img' -Writable -Format qcow2
Mount-GuestFs -Disk `$d -Device /dev/sda1 -MountPoint /
`$a0 = [GC]::GetTotalAllocatedBytes(`$true)
Copy-GuestItem -Disk `$d -LocalPath '$big' -Destination /big.bin -ProgressAction SilentlyContinue
Copy-GuestItem -Disk `$d /big.bin -Destination '$work/mem-big.out' -ProgressAction SilentlyContinue
`$a1 = [GC]::GetTotalAllocatedBytes(`$true)
Copy-GuestItem -Disk `$d -LocalPath '$tree' -Destination / -Recurse -ProgressAction SilentlyContinue
`$null = Get-GuestChildItem -Disk `$d /tree -Recurse
Close-GuestDisk -Disk `$d
`$hwm = Get-Content /proc/self/status | Where-Object { `$_ -like 'VmHWM:*' }
"`$hwm`n`$(`$a1 - `$a0)"
"@
    $memOut = & $pwshExe @pwshArgs -NoProfile -NonInteractive -Command $memScript
    $sessionKb = [long](($memOut[0] -split '\s+')[1])
    $transferAlloc = [long]$memOut[1]
    Remove-Item "$work/mem-big.out" -ErrorAction SilentlyContinue
    $rss['GuestFs: idle pwsh (fresh process)'] = $idleKb * 1KB
    $rss['GuestFs: pwsh with one session after the transfer and tree workloads'] = $sessionKb * 1KB
    $hostAbove = ($sessionKb - $idleKb) * 1KB
    Write-Host ('host process above idle pwsh: {0:N0} MB; managed allocation for uploading and downloading {1} MiB: {2:N1} MB' -f ($hostAbove / 1MB), $TransferMB, ($transferAlloc / 1MB))

    # ---------------- report
    function Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
    $rows = foreach ($w in $results.Keys) {
        $gf = $results[$w]['guestfish']
        foreach ($side in 'GuestFs engine', 'GuestFs cmdlets') {
            $v = $results[$w][$side]
            if (-not $v) { continue }
            $ratios = for ($i = 0; $i -lt $v.Count; $i++) { $v[$i] / [math]::Max($gf[$i], 0.0001) }
            [pscustomobject]@{
                Workload = $w; Side = $side
                'GuestFs median (s)' = '{0:0.000}' -f (Median $v); 'GuestFs min/max' = '{0:0.000}/{1:0.000}' -f ($v | Measure-Object -Minimum).Minimum, ($v | Measure-Object -Maximum).Maximum
                'guestfish median (s)' = '{0:0.000}' -f (Median $gf); 'guestfish min/max' = '{0:0.000}/{1:0.000}' -f ($gf | Measure-Object -Minimum).Minimum, ($gf | Measure-Object -Maximum).Maximum
                'ratio per round' = ($ratios | ForEach-Object { '{0:0.00}' -f $_ }) -join ' '
                'median ratio' = '{0:0.00}' -f (Median $ratios)
            }
        }
    }
    $rows | Format-Table -AutoSize | Out-Host
    $stageRows | Format-Table -AutoSize | Out-Host
    $rss.GetEnumerator() | Sort-Object Name | ForEach-Object { '{0}: {1:N0} MB' -f $_.Name, ($_.Value / 1MB) } | Out-Host

    $md = [System.Text.StringBuilder]::new()
    $null = $md.AppendLine('# Performance').AppendLine()
    $null = $md.AppendLine('Generated by `./build.ps1 -Task Bench` (bench/run.ps1): the same work through guestfish (libguestfs 1.48.6, direct backend, TCG forced) and through GuestFs (engine API and cmdlets), after one warm-up round. Ratios are GuestFs / guestfish per round; below 1 means GuestFs is faster.').AppendLine()
    $null = $md.AppendLine("- Both sides' appliances have $memSize MiB (LIBGUESTFS_MEMSIZE). Side order per round: $($sideOrder -join '; ').")
    $null = $md.AppendLine("- Machine: $(nproc) cores, $([math]::Round((Get-Content /proc/meminfo | Select-Object -First 1).Split(' ', [StringSplitOptions]::RemoveEmptyEntries)[1] / 1MB)) GiB, $((Get-Content /etc/os-release | Where-Object { $_ -like 'PRETTY_NAME=*' }) -replace 'PRETTY_NAME=|""','')")
    $null = $md.AppendLine("- qemu: $((& qemu-system-x86_64 --version | Select-Object -First 1)); guestfish: $((& guestfish --version)); GuestFs $((Get-Module GuestFs).Version); PowerShell $($PSVersionTable.PSVersion)")
    $null = $md.AppendLine("- Date: $(Get-Date -Format 'yyyy-MM-dd HH:mm'); rounds: $Rounds; command: ``./build.ps1 -Task Bench``").AppendLine()
    $null = $md.AppendLine('| Workload | Side | GuestFs median (s) | min/max | guestfish median (s) | min/max | ratio per round | median ratio |')
    $null = $md.AppendLine('|---|---|---|---|---|---|---|---|')
    foreach ($r in $rows) { $null = $md.AppendLine("| $($r.Workload) | $($r.Side) | $($r.'GuestFs median (s)') | $($r.'GuestFs min/max') | $($r.'guestfish median (s)') | $($r.'guestfish min/max') | $($r.'ratio per round') | $($r.'median ratio') |") }
    # Targets of the speed issue (faster than guestfish on every workload), evaluated from
    # the medians above: the limit for each workload, by side.
    function RatioOf([string] $w, [string] $side) { ($rows | Where-Object { $_.Workload -eq $w -and $_.Side -eq $side } | Select-Object -First 1).'median ratio' }
    function LimitOf([string] $w, [string] $side) {
        switch -Wildcard ($w) {
            'launch + close, cold boot*' { 0.6 }
            'launch + close' { 0.8 }
            '*small calls*' { if ($side -eq 'GuestFs engine') { 0.8 } else { 1.0 } }
            'upload*' { 0.8 }
            'download*' { 0.8 }
            'copy-*' { 0.8 }
            'open, mount, first listing*' { 0.10 }
            default { 1.0 }
        }
    }
    $targets = [System.Collections.Generic.List[object]]::new()
    foreach ($w in $results.Keys) {
        foreach ($side in 'GuestFs engine', 'GuestFs cmdlets') {
            $r = RatioOf $w $side
            if (-not $r) { continue }
            $limit = LimitOf $w $side
            $what = if ($w -eq 'launch + close') { "$side, warm by default" } else { $side }
            $targets.Add([pscustomobject]@{ Target = "$w <= $limit x guestfish ($what)"; Measured = $r; Met = [double]$r -le $limit })
        }
    }
    # Memory at the same appliance memory size on both sides (LIBGUESTFS_MEMSIZE above).
    if ($rss['guestfish: qemu'] -and $rss['GuestFs: qemu']) {
        $m = [math]::Round($rss['GuestFs: qemu'] / $rss['guestfish: qemu'], 2)
        $targets.Add([pscustomobject]@{ Target = 'qemu resident memory per session <= 0.5 x guestfish''s qemu (peak, same memory size)'; Measured = ('{0} ({1:N0} MB / {2:N0} MB)' -f $m, ($rss['GuestFs: qemu'] / 1MB), ($rss['guestfish: qemu'] / 1MB)); Met = $m -le 0.5 })
    }
    $callsKey = $results.Keys | Where-Object { $_ -like '*small calls*' } | Select-Object -First 1
    $perCall = @{}
    foreach ($side in 'guestfish', 'GuestFs engine', 'GuestFs cmdlets') { $perCall[$side] = 1000 * (Median $results[$callsKey][$side]) / $SmallCalls }
    $targets.Add([pscustomobject]@{ Target = 'small calls: <= 0.3 ms per call above guestfish''s per-call time (engine)'; Measured = ('{0:0.000} ms (guestfish {1:0.000}, engine {2:0.000}, cmdlets {3:0.000} ms/call)' -f ($perCall['GuestFs engine'] - $perCall['guestfish']), $perCall['guestfish'], $perCall['GuestFs engine'], $perCall['GuestFs cmdlets']); Met = ($perCall['GuestFs engine'] - $perCall['guestfish']) -le 0.3 })
    $targets.Add([pscustomobject]@{ Target = 'host process <= 150 MB above an idle pwsh'; Measured = ('{0:N0} MB' -f ($hostAbove / 1MB)); Met = $hostAbove -le 150MB })
    $null = $md.AppendLine().AppendLine('## Targets').AppendLine()
    $null = $md.AppendLine('| target | median measured | met |').AppendLine('|---|---|---|')
    foreach ($t in $targets) { $null = $md.AppendLine("| $($t.Target) | $($t.Measured) | $(if ($t.Met) { 'yes' } else { '**no**' }) |") }
    $targets | Format-Table -AutoSize | Out-Host
    $notes = Join-Path $PSScriptRoot 'analysis.md'
    if (Test-Path $notes) {
        # {{cmp:WORKLOAD|SIDE}}: this run's verdict for the first workload whose name starts
        # with WORKLOAD (an exact name first), so the prose says what was measured.
        $text = [regex]::Replace((Get-Content $notes -Raw), '\{\{cmp:([^|}]+)\|([^}]+)\}\}', {
                param($m)
                $prefix = $m.Groups[1].Value; $side = $m.Groups[2].Value
                $w = @($results.Keys | Where-Object { $_ -eq $prefix }) + @($results.Keys | Where-Object { $_ -like "$prefix*" -or $_ -like "*$prefix*" }) | Select-Object -First 1
                $r = if ($w) { RatioOf $w $side }
                if (-not $r) { return '(not measured in this run)' }
                $x = [double]::Parse($r, [Globalization.CultureInfo]::InvariantCulture)
                $verdict = if ($x -lt 0.97) { 'faster than guestfish' } elseif ($x -gt 1.03) { 'slower than guestfish' } else { 'level with guestfish' }
                "$verdict (median ratio $r)"
            })
        $null = $md.AppendLine().AppendLine($text)
    }

    $null = $md.AppendLine().AppendLine('Warm open-to-first-listing, stage by stage (seconds; docs/warm.md):').AppendLine()
    $null = $md.AppendLine('| round | launch | restore | first reply | hot-plug | mount | open → listing → close |').AppendLine('|---|---|---|---|---|---|---|')
    foreach ($r in $stageRows) { $null = $md.AppendLine("| $($r.Round) | $($r.Mode) | $($r.Restore) | $($r.FirstReply) | $($r.HotPlug) | $($r.Mount) | $($r.Total) |") }
    $null = $md.AppendLine().AppendLine('Peak resident memory (VmHWM):').AppendLine()
    foreach ($e in $rss.GetEnumerator() | Sort-Object Name) { $null = $md.AppendLine(('- {0}: {1:N0} MB' -f $e.Name, ($e.Value / 1MB))) }
    $null = $md.AppendLine(('- GuestFs host process above an idle pwsh: **{0:N0} MB** (target: at most 150 MB)' -f ($hostAbove / 1MB)))
    $null = $md.AppendLine(('- Managed memory allocated while uploading and downloading {0} MiB through Copy-GuestItem: {1:N1} MB (transfers stream through fixed, reused buffers; this figure stays flat as the transfer size grows)' -f $TransferMB, ($transferAlloc / 1MB)))
    $null = $md.AppendLine().AppendLine('Notes: guestfish''s small calls are timed inside one guestfish run (`! date` right before the first and after the last call); its "recursive listing" is `find` (names only, one call), while GuestFs lists with lstat data and link targets. The copy workloads use guestfish `copy-in`/`copy-out` against `Copy-GuestItem -Recurse` and the engine''s CopyIn/CopyOut. The measurements behind the launch defaults are in docs/defaults.md.')
    if (-not $SkipFleet) {
        # ---------------- fleet: the same inventory with -ThrottleLimit 1 (sequential), 2 and 4,
        # each in a fresh pwsh; peak memory = the sampled sum of that pwsh's and its qemu's RSS.
        Write-Host '## fleet inventory'
        # The Debian image the tests cache (under the key of this tree's recipes and launch code).
        $debian = Get-ChildItem "$(Get-GuestFsTestCacheDirectory)/debian12-*.img" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName
        $useOs = [bool] $debian
        $fleetDir = "$work/fleet"
        New-Item -ItemType Directory $fleetDir | Out-Null
        foreach ($i in 1..$FleetImages) {
            if ($useOs) { & qemu-img create -q -f qcow2 -F raw -b $debian ("$fleetDir/vm{0:00}.qcow2" -f $i) }
            else { & qemu-img create -q -f qcow2 -F raw -b $base ("$fleetDir/vm{0:00}.qcow2" -f $i) }
        }
        $fleetCmd = if ($useOs) { 'Get-GuestOSInfo' } else { 'Get-GuestFileSystem' }
        function Get-TreeRss([int] $Root) {
            $total = 0L
            foreach ($p in [IO.Directory]::GetDirectories('/proc')) {
                if (-not [char]::IsDigit([IO.Path]::GetFileName($p)[0])) { continue }
                try { $stat = [IO.File]::ReadAllText("$p/stat") } catch { continue }
                if ($stat -notmatch '^(\d+) \(.*\) \S (\d+) ') { continue }
                if ([int]$Matches[1] -ne $Root -and [int]$Matches[2] -ne $Root) { continue }
                try { $line = [IO.File]::ReadAllLines("$p/status") | Where-Object { $_.StartsWith('VmRSS:') } } catch { continue }
                if ($line) { $total += [long](($line -split '\s+')[1]) * 1KB }
            }
            $total
        }
        $fleetRows = foreach ($t in 1, 2, 4) {
            $script = "Import-Module '$ModulePath'; `$sw = [Diagnostics.Stopwatch]::StartNew(); `$r = @($fleetCmd -Path '$fleetDir/*.qcow2' -ThrottleLimit $t -ProgressAction SilentlyContinue); '{0} {1}' -f `$sw.Elapsed.TotalSeconds, `$r.Count"
            $psi = [Diagnostics.ProcessStartInfo]::new($pwshExe)
            foreach ($a in @($pwshArgs) + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
            $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
            $proc = [Diagnostics.Process]::Start($psi)
            $outTask = $proc.StandardOutput.ReadToEndAsync()
            $peak = 0L
            while (-not $proc.HasExited) { $peak = [math]::Max($peak, (Get-TreeRss $proc.Id)); Start-Sleep -Milliseconds 200 }
            $proc.WaitForExit()
            $parts = ($outTask.Result.Trim() -split '\s+')
            $secs = [double]::Parse($parts[0], [Globalization.CultureInfo]::InvariantCulture)
            Write-Host ("  -ThrottleLimit {0}: {1:0.0} s, {2} results, peak {3:N0} MB" -f $t, $secs, $parts[1], ($peak / 1MB))
            [pscustomobject]@{ Throttle = $t; Seconds = $secs; Results = [int]$parts[1]; PeakMB = [math]::Round($peak / 1MB) }
        }
        # Disk usage of the eight images: virt-df --csv (one appliance with every disk) against
        # Get-GuestDiskUsage -Path (one warm session per image, default throttle), each timed whole.
        Write-Host '## disk usage of the fleet'
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $df = @(& virt-df --csv --format=qcow2 @(Get-ChildItem "$fleetDir/*.qcow2" | Sort-Object Name | ForEach-Object { '-a'; $_.FullName }))
        $dfSeconds = $sw.Elapsed.TotalSeconds
        if ($LASTEXITCODE) { throw "virt-df failed with exit code $LASTEXITCODE" }
        $dfRows = @($df | Select-Object -Skip 1 | Where-Object { $_ })
        $usageScript = "Import-Module '$ModulePath'; `$sw = [Diagnostics.Stopwatch]::StartNew(); `$r = @(Get-GuestDiskUsage -Path '$fleetDir/*.qcow2' -ProgressAction SilentlyContinue); '{0} {1}' -f `$sw.Elapsed.TotalSeconds, `$r.Count"
        $usageOut = (& $pwshExe @pwshArgs -NoProfile -NonInteractive -Command $usageScript | Select-Object -Last 1).Trim() -split '\s+'
        $usageSeconds = [double]::Parse($usageOut[0], [Globalization.CultureInfo]::InvariantCulture)
        if ([int]$usageOut[1] -ne $dfRows.Count) { throw "Get-GuestDiskUsage gave $($usageOut[1]) filesystems, virt-df $($dfRows.Count)" }
        Write-Host ('  virt-df: {0:0.0} s; Get-GuestDiskUsage -Path: {1:0.0} s ({2} filesystems each)' -f $dfSeconds, $usageSeconds, $dfRows.Count)
        $seq = ($fleetRows | Where-Object Throttle -eq 1).Seconds
        $null = $md.AppendLine().AppendLine('## Fleet: inventory of eight images').AppendLine()
        $null = $md.AppendLine(('`{0} -Path <dir>/*.qcow2 -ThrottleLimit N` on {1} qcow2 overlays of {2}, each run in a fresh pwsh (wall time measured inside it; peak memory is the sampled sum of that pwsh''s and its qemu processes'' resident memory).' -f $fleetCmd, $FleetImages, $(if ($useOs) { 'the Debian 12 test image (OS inspection)' } else { 'the benchmark image (filesystem listing; the Debian test image was not built)' }))).AppendLine()
        $null = $md.AppendLine('| -ThrottleLimit | wall time (s) | speed-up vs 1 | results | peak memory (MB) |').AppendLine('|---|---|---|---|---|')
        foreach ($r in $fleetRows) { $null = $md.AppendLine(('| {0} | {1:0.0} | {2:0.00} | {3} | {4:N0} |' -f $r.Throttle, $r.Seconds, ($seq / $r.Seconds), $r.Results, $r.PeakMB)) }
        $null = $md.AppendLine().AppendLine('## Disk usage of the eight images').AppendLine()
        $null = $md.AppendLine('| tool | wall time (s) | filesystems | GuestFs / virt-df |').AppendLine('|---|---|---|---|')
        $null = $md.AppendLine(('| virt-df --csv -a ×{0} (one appliance, every disk) | {1:0.0} | {2} | |' -f $FleetImages, $dfSeconds, $dfRows.Count))
        $null = $md.AppendLine(('| Get-GuestDiskUsage -Path <dir>/*.qcow2 (a warm session per image, default throttle; fresh pwsh) | {0:0.0} | {1} | {2:0.00} |' -f $usageSeconds, $usageOut[1], ($usageSeconds / $dfSeconds)))
        $probe = Open-GuestDisk -Path $base; $accel = $probe.Accelerator; Close-GuestDisk -Disk $probe
        $fleetList = @($fleetRows)
        $perSession = if ($fleetList.Count -ge 2) { ($fleetList[1].PeakMB - $fleetList[0].PeakMB) } else { 0 }
        $null = $md.AppendLine().AppendLine(('This machine has {0} cores and its appliances ran under {1}{2}. The speed-up stops at about the number of cores when each session keeps a core busy; beyond that, sessions share the same cores and each adds about {3:N0} MB (the peak at -ThrottleLimit 2 minus the peak at 1, in this run). The default throttle (one per core, within available memory) is {0} here.' -f [Environment]::ProcessorCount, $accel, $(if ($accel -eq 'Tcg') { ' (software emulation: each one keeps a core busy while it works)' } else { '' }), $perSession))
    }
    # Sections measured by scripts of their own. A section that fails says so in the report
    # instead of losing the rows measured above.
    $sections = @(
        @{ Skip = $SkipHygiene; Name = 'hygiene'; Title = 'Disk hygiene: Optimize-GuestDisk and Resize-GuestDisk' }
        @{ Skip = $SkipRemote; Name = 'remote'; Title = 'Remote disks: NBD and HTTP' }
        @{ Skip = $SkipBatch; Name = 'batch'; Title = 'Many small calls as one batch' }
        @{ Skip = $SkipTemplates; Name = 'templates'; Title = 'Preparing templates: Reset-GuestImage against virt-sysprep' }
    )
    foreach ($sec in $sections | Where-Object { -not $_.Skip }) {
        try {
            $section = & (Join-Path $PSScriptRoot 'section.ps1') -Name $sec.Name -ModulePath $ModulePath | Out-String
            $null = $md.AppendLine().AppendLine($section.Trim())
        }
        catch {
            Write-Warning "bench/section.ps1 -Name $($sec.Name) failed: $_"
            $null = $md.AppendLine().AppendLine("## $($sec.Title)").AppendLine().AppendLine("**Not measured in this run: bench/section.ps1 -Name $($sec.Name) failed: $($_.Exception.Message)**")
        }
    }
    if (-not $SkipMicro) {
        try {
            Write-Host '## micro-benchmarks (BenchmarkDotNet, no appliance)'
            $micro = Join-Path $PSScriptRoot 'Micro'
            $artifacts = Join-Path $work 'bdn'
            $buildOut = & dotnet build -c Release $micro -nologo -v quiet 2>&1 | Out-String
            if ($LASTEXITCODE) { throw "building bench/Micro failed: $buildOut" }
            & dotnet (Join-Path $micro 'bin/Release/net10.0/GuestFs.Micro.dll') --filter '*' --job short --artifacts $artifacts | Out-Host
            $null = $md.AppendLine().AppendLine('## Micro-benchmarks (no appliance)').AppendLine()
            $null = $md.AppendLine('BenchmarkDotNet (`bench/Micro`, short job): XDR encoding/decoding, one call round trip and chunked transfers over a unix socket against a lean in-process daemon. "Allocated" is managed memory per operation; it must not grow with the transfer size.').AppendLine()
            foreach ($f in Get-ChildItem "$artifacts/results/*-report-github.md" | Sort-Object Name) {
                $table = (Get-Content $f) | Where-Object { $_ -like '|*' }
                $null = $md.AppendLine("**$($f.Name -replace '^GuestFs\.Micro\.|-report-github\.md$','')**").AppendLine()
                foreach ($line in $table) { $null = $md.AppendLine([Net.WebUtility]::HtmlDecode($line)) }
                $null = $md.AppendLine()
            }
        }
        catch {
            Write-Warning "micro-benchmarks failed: $_"
            $null = $md.AppendLine().AppendLine('## Micro-benchmarks (no appliance)').AppendLine().AppendLine("**Not measured in this run: $($_.Exception.Message)**")
        }
    }
    Set-Content -Path $Report -Value $md.ToString()
    Write-Host "report written to $Report"
}
finally {
    New-Item "$work/stop-sampler" -ItemType File -Force | Out-Null
    $sampler | Wait-Job -Timeout 10 | Out-Null
    $sampler | Remove-Job -Force
    Get-GuestDisk | Close-GuestDisk
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
