# Disk hygiene rows of the benchmark: Optimize-GuestDisk against virt-sparsify (in place, and
# copying into compressed qcow2) and Resize-GuestDisk against virt-resize --expand, on copies
# of one 2 GiB image, alternating which side goes first. Run by bench/section.ps1 -Name hygiene
# (which bench/run.ps1 calls), with its parameters in scope.
$work = Initialize-BenchSection $ModulePath 'hygiene' @('guestfish', 'virt-sparsify', 'virt-resize')
$begin = '<!-- disk hygiene: begin -->'
$end = '<!-- disk hygiene: end -->'

function Get-Allocated([string] $Image) { [long](& qemu-img info -U --output json $Image | ConvertFrom-Json).'actual-size' }
function Copy-Sparse([string] $From, [string] $To) { & cp --sparse=always $From $To; if ($LASTEXITCODE) { throw "cp $From $To failed" } }

try {
    # ---------------- the image: 2 GiB raw, MBR: ext4, xfs, LVM PV (VG benchvg, LV lvdata
    # ext4); in each filesystem 20 MB of random bytes kept and 200 MB written and deleted.
    Write-Host "## disk hygiene: building the 2 GiB image in $work"
    $src = "$work/source.img"
    & truncate -s 2G $src
    & bash -c "head -c 200M /dev/urandom > '$work/junk.bin' && head -c 20M /dev/urandom > '$work/keep.bin'"
    if ($LASTEXITCODE) { throw 'could not write the data files' }
    $fish = @('run', 'part-init /dev/sda mbr', 'part-add /dev/sda p 2048 1230847', 'part-add /dev/sda p 1230848 2459647', 'part-add /dev/sda p 2459648 -2048',
        'mkfs ext4 /dev/sda1', 'mkfs xfs /dev/sda2', 'pvcreate /dev/sda3', 'vgcreate benchvg /dev/sda3', 'lvcreate lvdata benchvg 600', 'mkfs ext4 /dev/benchvg/lvdata')
    foreach ($fs in '/dev/sda1', '/dev/sda2', '/dev/benchvg/lvdata') {
        $fish += @("mount $fs /", "upload $work/keep.bin /keep.bin", "upload $work/junk.bin /junk.bin", 'sync', 'rm /junk.bin', 'umount /')
    }
    Set-Content "$work/build.gf" $fish
    $null = Invoke-BenchTool guestfish @('--format=raw', '-a', $src, '-f', "$work/build.gf")
    $srcAllocated = Get-Allocated $src

    $results = [ordered]@{}
    $sizes = [ordered]@{}
    function Add-Result([string] $Workload, [string] $Side, [double] $Seconds, [long] $Bytes) {
        if (-not $results[$Workload]) { $results[$Workload] = @{}; $sizes[$Workload] = @{} }
        if (-not $results[$Workload][$Side]) { $results[$Workload][$Side] = [System.Collections.Generic.List[double]]::new() }
        $results[$Workload][$Side].Add($Seconds)
        $sizes[$Workload][$Side] = $Bytes
    }
    $inPlace = 'sparsify in place (virt-sparsify --in-place / Optimize-GuestDisk)'
    $copying = 'sparsify into compressed qcow2 (virt-sparsify --convert qcow2 --compress / Optimize-GuestDisk -Destination -Format qcow2 -Compress)'
    $resize = 'resize to 3 GiB, expanding the xfs partition (virt-resize --expand / Resize-GuestDisk -Expand)'
    $order = [System.Collections.Generic.List[string]]::new()

    for ($round = 1; $round -le $Rounds; $round++) {
        Write-Host "## disk hygiene: round $round"
        $tools = {
            $a = "$work/tool-inplace.img"; Copy-Sparse $src $a
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $null = Invoke-BenchTool virt-sparsify @('--in-place', '--format', 'raw', $a)
            Add-Result $inPlace 'guestfs-tools' $sw.Elapsed.TotalSeconds (Get-Allocated $a)
            $a = "$work/tool-copy.qcow2"; Remove-Item $a -ErrorAction SilentlyContinue
            $sw.Restart()
            $null = Invoke-BenchTool virt-sparsify @('--format', 'raw', '--convert', 'qcow2', '--compress', $src, $a)
            Add-Result $copying 'guestfs-tools' $sw.Elapsed.TotalSeconds (Get-Allocated $a)
            $a = "$work/tool-resize.img"; Remove-Item $a -ErrorAction SilentlyContinue
            & truncate -s 3G $a
            $sw.Restart()
            $null = Invoke-BenchTool virt-resize @('--format', 'raw', '--output-format', 'raw', '--expand', '/dev/sda2', $src, $a)
            Add-Result $resize 'guestfs-tools' $sw.Elapsed.TotalSeconds (Get-Allocated $a)
            Remove-Item "$work/tool-*" -ErrorAction SilentlyContinue
        }
        $ours = {
            $b = "$work/ours-inplace.img"; Copy-Sparse $src $b
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $null = Optimize-GuestDisk -Path $b -ProgressAction SilentlyContinue
            Add-Result $inPlace 'GuestFs' $sw.Elapsed.TotalSeconds (Get-Allocated $b)
            $b = "$work/ours-copy.qcow2"; Remove-Item $b -ErrorAction SilentlyContinue
            $sw.Restart()
            $null = Optimize-GuestDisk -Path $src -Destination $b -Format qcow2 -Compress -ProgressAction SilentlyContinue
            Add-Result $copying 'GuestFs' $sw.Elapsed.TotalSeconds (Get-Allocated $b)
            $b = "$work/ours-resize.img"; Remove-Item $b -ErrorAction SilentlyContinue
            $sw.Restart()
            $null = Resize-GuestDisk -Path $src -Destination $b -SizeBytes 3GB -Expand /dev/sda2 -ProgressAction SilentlyContinue
            Add-Result $resize 'GuestFs' $sw.Elapsed.TotalSeconds (Get-Allocated $b)
            Remove-Item "$work/ours-*" -ErrorAction SilentlyContinue
        }
        if ($round % 2) { $order.Add("round ${round}: GuestFs first"); . $ours; . $tools }
        else { $order.Add("round ${round}: guestfs-tools first"); . $tools; . $ours }
    }

    $md = [System.Text.StringBuilder]::new()
    $null = $md.AppendLine($begin).AppendLine('## Disk hygiene: Optimize-GuestDisk and Resize-GuestDisk').AppendLine()
    $null = $md.AppendLine(('A 2 GiB raw image (MBR: ext4, xfs and an LVM PV with an ext4 LV; in each filesystem 20 MB kept and 200 MB written and deleted; {0:N0} MB allocated on the host), each workload on a fresh copy, whole tool runs timed (every run boots its own appliance). Side order: {1}. Measured {2}; `bench/section.ps1 -Name hygiene -UpdateReport` measures this section alone.' -f ($srcAllocated / 1MB), ($order -join '; '), (Get-Date -Format 'yyyy-MM-dd HH:mm'))).AppendLine()
    $null = $md.AppendLine('| Workload | guestfs-tools median (s) | GuestFs median (s) | ratio per round | median ratio | result allocated, guestfs-tools / GuestFs (MB) |')
    $null = $md.AppendLine('|---|---|---|---|---|---|')
    $verdicts = [System.Collections.Generic.List[string]]::new()
    foreach ($w in $results.Keys) {
        $t = $results[$w]['guestfs-tools']; $o = $results[$w]['GuestFs']
        $r = Get-BenchRatios $t $o
        $median = $r.Median
        $null = $md.AppendLine(('| {0} | {1:0.0} | {2:0.0} | {3} | {4:0.00} | {5:N0} / {6:N0} |' -f $w, (Get-BenchMedian $t), (Get-BenchMedian $o), $r.Text, $median, ($sizes[$w]['guestfs-tools'] / 1MB), ($sizes[$w]['GuestFs'] / 1MB)))
        $verdict = Get-BenchVerdict $median
        $sizeRatio = $sizes[$w]['GuestFs'] / [math]::Max($sizes[$w]['guestfs-tools'], 1)
        $verdicts.Add(('- {0}: GuestFs is {1} the guestfs-tool in this run (median ratio {2:0.00}); its result has {3:0.00}x the tool''s allocated size.' -f ($w -replace ' \(.*$', ''), $verdict, $median, $sizeRatio))
    }
    $null = $md.AppendLine()
    foreach ($v in $verdicts) { $null = $md.AppendLine($v) }
    $null = $md.AppendLine().AppendLine($end)
    Complete-BenchSection $md.ToString() $begin $end $Report -UpdateReport:$UpdateReport
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
