# Reference tools in the background. Every guestfish or virt-* run boots an appliance of its
# own (tens of seconds of one core under TCG), and this machine has two cores, so a suite
# hands its reference work to one background "lane" while it does its own side in the
# foreground. The lane runs its jobs one after another, in the order given; each job is a
# bash script run with "set -eo pipefail" in $Directory. Wait-ReferenceJob waits for one
# job and returns its standard output as lines, or throws with its standard error; a job
# the lane has not started yet is run by the foreground itself (so neither side waits for
# the other longer than one job). A job that runs past its deadline is killed with everything
# it started, and so is the lane when the suite stops it.
# Shell functions every job has: "ref TOOL ARGS…" runs a reference tool and prints its output
# only when it succeeded, running it once more when libguestfs's appliance missed an LVM
# physical volume ("physical volume not returned by pvs_full", a known flake of its LVM scan).
$script:ReferenceLanePrologue = @'
ref() {
    local out err t
    out=$(mktemp); err=$(mktemp)
    for t in 1 2; do
        if "$@" >"$out" 2>"$err"; then cat "$out"; rm -f "$out" "$err"; return 0; fi
        if [ $t = 1 ] && grep -q 'physical volume not returned by pvs_full' "$err"; then echo "$1 missed an LVM PV; once more" >&2; continue; fi
        echo "$* failed:" >&2; cat "$err" >&2; rm -f "$out" "$err"; return 1
    done
}

'@

# A job's command line from words, each quoted for bash.
function ConvertTo-BashLine([string[]] $Words) { ($Words | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' ' }

function Start-ReferenceLane([string] $Directory, [System.Collections.Specialized.OrderedDictionary] $Jobs, [int] $JobTimeoutSeconds = 900) {
    $dir = Join-Path $Directory ("lane-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $dir | Out-Null
    $main = [Text.StringBuilder]::new()
    $null = $main.Append("cd '$Directory'`n")
    $i = 0
    foreach ($name in $Jobs.Keys) {
        $file = Join-Path $dir ("job{0:d2}" -f $i++)
        Set-Content -Path "$file.sh" -Value ("set -eo pipefail`n" + $script:ReferenceLanePrologue + $Jobs[$name])
        # timeout runs the job in a process group of its own and kills the group at the deadline.
        # A job the foreground has claimed already (it needed it before the lane got there) is skipped.
        $null = $main.Append("if mkdir '$file.claim' 2>/dev/null; then timeout -k 10 $JobTimeoutSeconds bash '$file.sh' > '$file.out' 2> '$file.err'; echo `$? > '$file.rc.tmp'; mv '$file.rc.tmp' '$file.rc'; fi`n")
    }
    Set-Content -Path "$dir/lane.sh" -Value $main.ToString()
    $psi = [Diagnostics.ProcessStartInfo]::new('bash')
    $psi.ArgumentList.Add("$dir/lane.sh")
    $psi.RedirectStandardInput = $true
    $proc = [Diagnostics.Process]::Start($psi)
    $proc.StandardInput.Close()
    $names = @{}; $i = 0
    foreach ($name in $Jobs.Keys) { $names[$name] = Join-Path $dir ("job{0:d2}" -f $i++) }
    [pscustomobject]@{ Process = $proc; Directory = $dir; Jobs = $names; Timeout = $JobTimeoutSeconds; Started = [DateTime]::UtcNow }
}

function Wait-ReferenceJob($Lane, [string] $Name) {
    $file = $Lane.Jobs[$Name]
    if (-not $file) { throw "the reference lane has no job named '$Name'" }
    # Not started yet: the foreground runs it itself rather than wait for the lane to get there.
    & mkdir "$file.claim" 2>$null
    if ($LASTEXITCODE -eq 0) {
        & timeout -k 10 $Lane.Timeout bash "$file.sh" > "$file.out" 2> "$file.err"
        Set-Content "$file.rc" $LASTEXITCODE
    }
    $deadline = [DateTime]::UtcNow.AddSeconds($Lane.Timeout * $Lane.Jobs.Count + 60)
    while (-not (Test-Path "$file.rc")) {
        if ($Lane.Process.HasExited -and -not (Test-Path "$file.rc")) { throw "the reference lane ended before job '$Name' did (exit code $($Lane.Process.ExitCode))" }
        if ([DateTime]::UtcNow -gt $deadline) { throw "the reference lane did not reach the end of job '$Name' in time" }
        Start-Sleep -Milliseconds 200
    }
    $rc = [int](Get-Content "$file.rc" -Raw).Trim()
    if ($rc -eq 124 -or $rc -eq 137) { throw "reference job '$Name' ran past its $($Lane.Timeout) s and was killed: $(Get-Content "$file.err" -Raw)" }
    if ($rc -ne 0) { throw "reference job '$Name' failed ($rc): $(Get-Content "$file.err" -Raw)" }
    @(Get-Content "$file.out")
}

function Stop-ReferenceLane($Lane) {
    if (-not $Lane) { return }
    if (-not $Lane.Process.HasExited) { try { $Lane.Process.Kill($true) } catch { } ; $Lane.Process.WaitForExit(10000) | Out-Null }
    $Lane.Process.Dispose()
    Remove-Item -Recurse -Force $Lane.Directory -ErrorAction SilentlyContinue
}
