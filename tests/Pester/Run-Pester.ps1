# Runs the Pester suites in this process and writes the counts as JSON for build.ps1.
param(
    [Parameter(Mandatory)] [string] $PesterModule,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $ResultPath,
    [Parameter(Mandatory)] [string] $TestPath,
    [string] $Tag,
    [string] $ExcludeTag
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterModule -Force
$env:GUESTFS_TEST_MODULE = $ModulePath
$config = New-PesterConfiguration
$config.Run.Path = $TestPath
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
if ($Tag) { $config.Filter.Tag = $Tag -split ',' }
if ($ExcludeTag) { $config.Filter.ExcludeTag = $ExcludeTag -split ',' }
$result = Invoke-Pester -Configuration $config
$containerFailures = @($result.Containers | Where-Object { $_.Result -eq 'Failed' -and $_.FailedCount -eq 0 }).Count
# Skipped tests by name, so build.ps1 can hold them against the allow-list; tests that
# did not run count too unless a tag filter left them out on purpose.
$notRun = if ($Tag -or $ExcludeTag) { @() } else { @($result.NotRun) }
$skippedNames = @(@($result.Skipped) + $notRun | Where-Object { $_ } | ForEach-Object { $_.ExpandedPath })
[ordered]@{
    Passed = $result.PassedCount
    Failed = $result.FailedCount
    Skipped = $skippedNames.Count
    SkippedNames = $skippedNames
    ContainerFailures = $containerFailures + $result.FailedBlocksCount
} | ConvertTo-Json | Set-Content -Path $ResultPath
if ($result.FailedCount -gt 0 -or $containerFailures -gt 0) { exit 1 }
