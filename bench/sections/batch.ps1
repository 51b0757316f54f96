# Many small calls as one batch (issue 20): 1,000 existence checks and 1,000 lstats of
# different paths (900 files in 20 directories, 100 missing), guestfish's one call after the
# other against GuestFs's pipelined, per-directory batch (GuestSession.LstatManyAsync, and
# Test-GuestPath for the cmdlet side). guestfish's calls are timed inside its own run (a
# `! date` before the first and after the last), GuestFs's around the batch in an open
# session; the engine's one-call-at-a-time time for the same paths is measured too, to show
# what the batch saves. Run by bench/section.ps1 -Name batch, with its parameters in scope.
$work = Initialize-BenchSection $ModulePath 'batch' @('guestfish')
$begin = '<!-- batch: begin -->'
$end = '<!-- batch: end -->'

try {
    Write-Host "## batch: building the image in $work"
    $img = Join-Path $work 'disk.img'
    & truncate -s 256M $img
    $fish = @('run', 'part-disk /dev/sda mbr', 'mkfs ext4 /dev/sda1', 'mount /dev/sda1 /', 'mkdir /t')
    foreach ($dir in 1..20) { $fish += "mkdir /t/d$dir"; foreach ($f in 1..45) { $fish += "touch /t/d$dir/f$f" } }
    $fish += 'umount /'
    Set-Content "$work/build.gf" $fish
    $null = Invoke-BenchTool guestfish @('--format=raw', '-a', $img, '-f', "$work/build.gf")
    $present = @(foreach ($dir in 1..20) { foreach ($f in 1..45) { "/t/d$dir/f$f" } })
    $missing = @(foreach ($dir in 1..20) { foreach ($f in 1..5) { "/t/d$dir/missing$f" } })
    $paths = [string[]]($present + $missing)

    # guestfish: one run, both blocks of calls timed with date stamps.
    $calls = @('run', 'mount-ro /dev/sda1 /', "! date +%s.%N > $work/t0")
    $calls += $paths | ForEach-Object { "exists $_" }
    $calls += "! date +%s.%N > $work/t1"
    $calls += $present | ForEach-Object { "lstatns $_" }
    $calls += "! date +%s.%N > $work/t2"
    Set-Content "$work/calls.gf" $calls

    $results = [ordered]@{}
    function Add-Result([string] $Workload, [string] $Side, [double] $Seconds) {
        if (-not $results[$Workload]) { $results[$Workload] = [ordered]@{} }
        if (-not $results[$Workload][$Side]) { $results[$Workload][$Side] = [System.Collections.Generic.List[double]]::new() }
        $results[$Workload][$Side].Add($Seconds)
    }
    $existsRow = "1,000 existence checks ($($present.Count) present, $($missing.Count) missing)"
    $statRow = "$($present.Count) lstats of different files"
    $order = [System.Collections.Generic.List[string]]::new()
    for ($round = 1; $round -le $Rounds; $round++) {
        Write-Host "## batch: round $round"
        $tools = {
            $out = Invoke-BenchTool guestfish @('--ro', '--format=raw', '-a', $img, '-f', "$work/calls.gf")
            $t = 0..2 | ForEach-Object { [double](Get-Content "$work/t$_") }
            $trues = @($out -split "`n" | Where-Object { $_.Trim() -eq 'true' }).Count
            if ($trues -ne $present.Count) { throw "guestfish said true $trues times, expected $($present.Count)" }
            Add-Result $existsRow 'guestfish' ($t[1] - $t[0])
            Add-Result $statRow 'guestfish' ($t[2] - $t[1])
        }
        $ours = {
            $s = [GuestFs.Engine.Session.GuestSession]::new([GuestFs.Engine.Session.GuestSessionOptions]::FromEnvironment())
            try {
                $null = $s.AddDrive($img, [GuestFs.Engine.Session.DriveOptions]@{ Format = 'raw' })
                $s.Launch(); $s.MountRo('/dev/sda1', '/')
                # Warm-up (JIT, first use of each path): not timed, as guestfish's start is not.
                $null = $s.LstatManyAsync([string[]]@('/t', '/t/d1/f1'), [Threading.CancellationToken]::None).GetAwaiter().GetResult()
                $null = $s.Exists('/t'); $null = $s.Lstatns('/t')
                $sw = [Diagnostics.Stopwatch]::StartNew()
                $r = $s.LstatManyAsync($paths, [Threading.CancellationToken]::None).GetAwaiter().GetResult()
                Add-Result $existsRow 'GuestFs engine (batch)' $sw.Elapsed.TotalSeconds
                if (@($r | Where-Object { $null -ne $_.Value }).Count -ne $present.Count) { throw 'the engine batch found a different number of files' }
                $sw.Restart()
                $r = $s.LstatManyAsync([string[]]$present, [Threading.CancellationToken]::None).GetAwaiter().GetResult()
                Add-Result $statRow 'GuestFs engine (batch)' $sw.Elapsed.TotalSeconds
                if (@($r | Where-Object { $null -ne $_.Value -and $_.Value.StSize -eq 0 }).Count -ne $present.Count) { throw 'the engine batch returned different stats' }
                $sw.Restart()
                foreach ($p in $paths) { $null = $s.Exists($p) }
                Add-Result $existsRow 'GuestFs engine (one call at a time)' $sw.Elapsed.TotalSeconds
                $sw.Restart()
                foreach ($p in $present) { $null = $s.Lstatns($p) }
                Add-Result $statRow 'GuestFs engine (one call at a time)' $sw.Elapsed.TotalSeconds
            }
            finally { $s.Dispose() }
            $d = Open-GuestDisk -Path $img -Format raw
            try {
                Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint / -ReadOnly
                $null = Test-GuestPath -Disk $d -LiteralPath /t, /t/d1/f1
                $sw = [Diagnostics.Stopwatch]::StartNew()
                $found = @(Test-GuestPath -Disk $d -LiteralPath $paths | Where-Object { $_ }).Count
                Add-Result $existsRow 'GuestFs cmdlets (Test-GuestPath)' $sw.Elapsed.TotalSeconds
                if ($found -ne $present.Count) { throw "Test-GuestPath found $found files" }
            }
            finally { Close-GuestDisk -Disk $d }
        }
        if ($round % 2) { $order.Add("round ${round}: GuestFs first"); . $ours; . $tools }
        else { $order.Add("round ${round}: guestfish first"); . $tools; . $ours }
    }

    $md = [System.Text.StringBuilder]::new()
    $null = $md.AppendLine($begin).AppendLine('## Many small calls as one batch').AppendLine()
    $null = $md.AppendLine(('A 256 MiB raw image with 900 empty files in 20 directories; the 1,000 paths asked for are those 900 and 100 missing ones. guestfish asks one call after the other (`exists`, `lstatns`; libguestfs cannot do otherwise), timed inside its run. GuestFs asks `GuestSession.LstatManyAsync` (one `internal_lstatnslist` per directory, the calls pipelined on the one connection) and `Test-GuestPath -LiteralPath` with all paths, in an open session; "one call at a time" is the engine making the same single calls as guestfish. Side order: {0}. Measured {1}; `bench/section.ps1 -Name batch -UpdateReport` measures this section alone.' -f ($order -join '; '), (Get-Date -Format 'yyyy-MM-dd HH:mm'))).AppendLine()
    $null = $md.AppendLine('| Workload | Side | guestfish median (ms) | GuestFs median (ms) | ratio per round | median ratio |')
    $null = $md.AppendLine('|---|---|---|---|---|---|')
    $lines = [System.Collections.Generic.List[string]]::new()
    foreach ($w in $results.Keys) {
        $t = $results[$w]['guestfish']
        foreach ($side in @($results[$w].Keys | Where-Object { $_ -ne 'guestfish' })) {
            $o = $results[$w][$side]
            $r = Get-BenchRatios $t $o
            $null = $md.AppendLine(('| {0} | {1} | {2:0} | {3:0} | {4} | {5:0.00} |' -f $w, $side, (1000 * (Get-BenchMedian $t)), (1000 * (Get-BenchMedian $o)), $r.Text, $r.Median))
            if ($side -like '*batch*' -or $side -like '*cmdlets*') {
                $met = if ($r.Median -le 0.3) { 'met' } else { 'NOT met' }
                $n = if ($w -eq $existsRow) { $paths.Count } else { $present.Count }
                $lines.Add(('- {0}, {1}: {2:0.00} x guestfish, target <= 0.3: {3}. Per path: guestfish {4:0.000} ms, GuestFs {5:0.000} ms.' -f $w, $side, $r.Median, $met, (1000 * (Get-BenchMedian $t) / $n), (1000 * (Get-BenchMedian $o) / $n)))
            }
        }
    }
    $null = $md.AppendLine()
    foreach ($l in $lines) { $null = $md.AppendLine($l) }
    $null = $md.AppendLine().AppendLine('What the time is made of: a single call costs a round trip (host write, virtio-serial, the daemon waking, its reply) plus the daemon''s work; guestfish and GuestFs one call at a time both pay it per path. The batch pays one round trip per window of 64 calls, and asks one `lstatnslist` per directory instead of one call per path, so what is left is the daemon''s own work for 20 directory opens and 1,000 fstatat calls, plus encoding 1,000 stat structs.')
    $null = $md.AppendLine().AppendLine($end)
    Complete-BenchSection $md.ToString() $begin $end $Report -UpdateReport:$UpdateReport
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
