# One section of the benchmark report measured by a script of its own (bench/sections/NAME.ps1:
# hygiene = Optimize-/Resize-GuestDisk against virt-sparsify/virt-resize, remote = NBD and HTTP
# disks against guestfish, batch = 1,000 paths in one pipelined batch against guestfish's single calls,
# templates = Reset-GuestImage on eight images against virt-sysprep run eight times). Returns the section as markdown (bench/run.ps1 puts it in
# docs/performance.md); with -UpdateReport it replaces that section of an existing report
# instead, so its rows can be measured again alone.
param(
    [Parameter(Mandatory)] [ValidateSet('hygiene', 'remote', 'batch', 'templates')] [string] $Name,
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/GuestFs/GuestFs.psd1'),
    [int] $Rounds = 2,
    [string] $Report = (Join-Path $PSScriptRoot '../docs/performance.md'),
    [switch] $UpdateReport
)
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'common.ps1')
. (Join-Path $PSScriptRoot "sections/$Name.ps1")
