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
# How long each file took (set-up included), so a slow CI run says where its time went.
Write-Host 'Pester time per file:'
foreach ($c in @($result.Containers)) {
    Write-Host ('  {0,7:n0} s  {1}' -f $c.Duration.TotalSeconds, [IO.Path]::GetFileName("$($c.Item)"))
}
$containerFailures = @($result.Containers | Where-Object { $_.Result -eq 'Failed' -and $_.FailedCount -eq 0 }).Count
# Skipped tests by name, so build.ps1 can hold them against the allow-list; tests that
# did not run count too unless a tag filter left them out on purpose.
$notRun = if ($Tag -or $ExcludeTag) { @() } else { @($result.NotRun) }
$skippedNames = @(@($result.Skipped) + $notRun | Where-Object { $_ } | ForEach-Object { $_.ExpandedPath })
# Failed tests with the first line of their error, so the end of a long log still says which failed.
$failedTests = @(@($result.Failed) | Where-Object { $_ } | ForEach-Object {
        $first = @($_.ErrorRecord | ForEach-Object { "$_" } | Where-Object { $_ }) | Select-Object -First 1
        # A test that failed because its block's setup did is shown with the block's error.
        for ($b = $_.Block; -not $first -and $b; $b = $b.Parent) {
            $first = @($b.ErrorRecord | ForEach-Object { "$_" } | Where-Object { $_ }) | Select-Object -First 1
            if ($first) { $first = "in '$($b.Name)': $first" }
        }
        $first = if ($first) { ($first -split "`n")[0].Trim() } else { '' }
        if ($first.Length -gt 300) { $first = $first.Substring(0, 300) + '...' }
        [ordered]@{ Name = $_.ExpandedPath; Error = $first; File = $_.ScriptBlock.File; Line = $_.ScriptBlock.StartPosition.StartLine }
    })
$failedBlocks = @(@($result.Containers) | Where-Object { $_ -and $_.Result -eq 'Failed' -and $_.FailedCount -eq 0 } | ForEach-Object {
        $first = @($_.ErrorRecord | ForEach-Object { "$_" } | Where-Object { $_ }) | Select-Object -First 1
        [ordered]@{ Name = "$($_.Item) (the whole file)"; Error = if ($first) { ($first -split "`n")[0].Trim() } else { '' } }
    })
[ordered]@{
    Passed = $result.PassedCount
    Failed = $result.FailedCount
    Skipped = $skippedNames.Count
    SkippedNames = $skippedNames
    ContainerFailures = $containerFailures + $result.FailedBlocksCount
    FailedTests = @($failedTests) + @($failedBlocks)
} | ConvertTo-Json | Set-Content -Path $ResultPath
if ($result.FailedCount -gt 0 -or $containerFailures -gt 0) { exit 1 }
