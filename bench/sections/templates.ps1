# Preparing templates (issue 18): Reset-GuestImage on eight copies of the Debian 12 test image
# with -ThrottleLimit 2, against virt-sysprep run once per copy (its one image at a time), on
# fresh copies each round, alternating which side goes first. Both run their default
# operations. The copies are qcow2 overlays of the image the tests cache (built with
# debootstrap by tests/Pester/GuestImages.ps1 when it is missing). Run by
# bench/section.ps1 -Name templates, with its parameters in scope.
$work = Initialize-BenchSection $ModulePath 'templates' @('virt-sysprep')
$begin = '<!-- templates: begin -->'
$end = '<!-- templates: end -->'
$Images = 8

try {
    . (Join-Path $PSScriptRoot '../../tests/Pester/TestSupport.ps1')
    . (Join-Path $PSScriptRoot '../../tests/Pester/GuestImages.ps1')
    $problem = Get-GuestFsDebianImageProblem
    if ($problem) { throw "the Debian 12 test image cannot be built: $problem" }
    $debian = Get-GuestFsDebianImage
    function New-Copies([string] $Dir) {
        Remove-Item -Recurse -Force $Dir -ErrorAction SilentlyContinue
        New-Item -ItemType Directory $Dir | Out-Null
        foreach ($i in 1..$Images) {
            & qemu-img create -q -f qcow2 -F raw -b $debian ("$Dir/vm{0:00}.qcow2" -f $i)
            if ($LASTEXITCODE) { throw 'qemu-img create failed' }
        }
        @(Get-ChildItem "$Dir/*.qcow2" | Sort-Object Name | ForEach-Object FullName)
    }
    $tool = [System.Collections.Generic.List[double]]::new()
    $ours = [System.Collections.Generic.List[double]]::new()
    $order = [System.Collections.Generic.List[string]]::new()
    $opsTool = 0; $opsOurs = 0
    for ($round = 1; $round -le $Rounds; $round++) {
        Write-Host "## templates: round $round"
        $runTool = {
            $copies = New-Copies "$work/tool"
            $sw = [Diagnostics.Stopwatch]::StartNew()
            foreach ($c in $copies) { $null = Invoke-BenchTool virt-sysprep @('--format', 'qcow2', '-a', $c) }
            $tool.Add($sw.Elapsed.TotalSeconds)
            $script:opsTool = @(& virt-sysprep --list-operations | Where-Object { ($_ -split '\s+')[1] -eq '*' }).Count
        }
        $runOurs = {
            $copies = New-Copies "$work/ours"
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $r = @(Reset-GuestImage -Path $copies -Format qcow2 -ThrottleLimit 2 -Confirm:$false -ProgressAction SilentlyContinue -ErrorAction Stop)
            $ours.Add($sw.Elapsed.TotalSeconds)
            $images = @($r.ImagePath | Sort-Object -Unique).Count
            if ($images -ne $Images) { throw "Reset-GuestImage returned results for $images image(s), not $Images" }
            $script:opsOurs = @(Get-GuestImageResetOperation -Default).Count
        }
        if ($round % 2) { $order.Add("round ${round}: GuestFs first"); . $runOurs; . $runTool }
        else { $order.Add("round ${round}: guestfs-tools first"); . $runTool; . $runOurs }
        Remove-Item -Recurse -Force "$work/tool", "$work/ours" -ErrorAction SilentlyContinue
    }
    $r = Get-BenchRatios $tool.ToArray() $ours.ToArray()
    $md = [System.Text.StringBuilder]::new()
    $null = $md.AppendLine($begin).AppendLine('## Preparing templates: Reset-GuestImage against virt-sysprep').AppendLine()
    $null = $md.AppendLine(('{0} qcow2 overlays of the Debian 12 test image, fresh each round; every operation of the default set on each ({1} for virt-sysprep, {2} for Reset-GuestImage). virt-sysprep takes one image per run, so it runs {0} times, one after the other; Reset-GuestImage takes them all at once with -ThrottleLimit 2 (one appliance per core here). Side order: {3}. Measured {4}; `bench/section.ps1 -Name templates -UpdateReport` measures this section alone.' -f $Images, $opsTool, $opsOurs, ($order -join '; '), (Get-Date -Format 'yyyy-MM-dd HH:mm'))).AppendLine()
    $null = $md.AppendLine('| Workload | virt-sysprep ×8 median (s) | Reset-GuestImage median (s) | ratio per round | median ratio |').AppendLine('|---|---|---|---|---|')
    $null = $md.AppendLine(('| reset {0} images, default operations | {1:0.0} | {2:0.0} | {3} | {4:0.00} |' -f $Images, (Get-BenchMedian $tool.ToArray()), (Get-BenchMedian $ours.ToArray()), $r.Text, $r.Median))
    $null = $md.AppendLine().AppendLine(('- GuestFs is {0} virt-sysprep in this run (median ratio {1:0.00}): {2:0.0} s against {3:0.0} s per image.' -f (Get-BenchVerdict $r.Median), $r.Median, ((Get-BenchMedian $ours.ToArray()) / $Images), ((Get-BenchMedian $tool.ToArray()) / $Images)))
    $null = $md.AppendLine().AppendLine($end)
    Complete-BenchSection $md.ToString() $begin $end $Report -UpdateReport:$UpdateReport
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
