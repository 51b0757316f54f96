# Shared by the benchmark sections that run on their own (hygiene.ps1, remote.ps1): dot-source it.

# Loads the module, checks the reference tools, forces the direct backend under TCG (as the
# tests run) and returns a new work directory under /var/tmp named after the section.
function Initialize-BenchSection([string] $ModulePath, [string] $Name, [string[]] $Tools) {
    if (-not (Get-Module GuestFs)) { Import-Module $ModulePath }
    foreach ($tool in $Tools) {
        if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { throw "$tool is not installed (build.ps1 -Task Bootstrap installs the reference tools and servers)" }
    }
    $env:LIBGUESTFS_BACKEND = 'direct'
    $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg'
    $dir = Join-Path '/var/tmp' ("guestfs-bench-$Name-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory $dir | Out-Null
    $dir
}

# Runs a reference tool; its output, or a throw with it.
function Invoke-BenchTool([string] $Tool, [string[]] $Arguments) {
    $out = & $Tool @Arguments 2>&1 | Out-String
    if ($LASTEXITCODE) { throw "$Tool $($Arguments -join ' ') failed ($LASTEXITCODE): $out" }
    $out
}

function Get-BenchMedian([double[]] $v) {
    $s = $v | Sort-Object
    if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
}

# The per-round ratios (GuestFs / reference) of one workload, and their median.
function Get-BenchRatios([double[]] $Reference, [double[]] $Ours) {
    $ratios = @(for ($i = 0; $i -lt $Ours.Count; $i++) { $Ours[$i] / [math]::Max($Reference[$i], 0.0001) })
    [pscustomobject]@{ Ratios = $ratios; Median = (Get-BenchMedian $ratios); Text = (($ratios | ForEach-Object { '{0:0.00}' -f $_ }) -join ' ') }
}

function Get-BenchVerdict([double] $MedianRatio) {
    if ($MedianRatio -lt 0.97) { 'faster than' } elseif ($MedianRatio -gt 1.03) { 'slower than' } else { 'level with' }
}

# Prints a finished section; with -UpdateReport it replaces the part of the report between
# $Begin and $End (or appends it) instead of returning it.
function Complete-BenchSection([string] $Section, [string] $Begin, [string] $End, [string] $Report, [switch] $UpdateReport) {
    Write-Host $Section
    if (-not $UpdateReport) { return $Section }
    $text = if (Test-Path $Report) { Get-Content $Report -Raw } else { "# Performance`n" }
    $i = $text.IndexOf($Begin); $j = $text.IndexOf($End)
    $text = if ($i -ge 0 -and $j -gt $i) { $text.Substring(0, $i) + $Section.TrimEnd() + $text.Substring($j + $End.Length) } else { $text.TrimEnd() + "`n`n" + $Section }
    Set-Content -Path $Report -Value $text.TrimEnd() -NoNewline
    Add-Content -Path $Report -Value ''
    Write-Host "report section written to $Report"
}
