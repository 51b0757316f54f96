# build.ps1 -Task Package (part of -Task Test) writes the module as a .nupkg to out/packages.
# A user installs it the PowerShell way: a local folder registered as a PSResourceGet
# repository, Install-PSResource, Import-Module by name. This runs in a child pwsh with a
# private HOME, so neither the repository list nor the module paths of this machine change.

Describe 'The module installs from a local PSResourceGet repository' -Tag 'Module', 'Package' {
    BeforeAll {
        $script:feed = Join-Path $PSScriptRoot '../../out/packages'
        $script:home2 = Join-Path ([IO.Path]::GetTempPath()) ('gfs-pkg-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $home2 | Out-Null
        $pwsh = [Environment]::ProcessPath
        $script:pwshCmd = @($pwsh) + @(if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
    }
    AfterAll { Remove-Item -Recurse -Force $home2 -ErrorAction SilentlyContinue }

    It 'build.ps1 wrote one GuestFs .nupkg whose version is the module''s' {
        $pkgs = @(Get-ChildItem $feed -Filter 'GuestFs.*.nupkg')
        $pkgs.Count | Should -Be 1
        $version = (Import-PowerShellDataFile $env:GUESTFS_TEST_MODULE).ModuleVersion
        $pkgs[0].Name | Should -Be "GuestFs.$version.nupkg"
    }

    It 'Install-PSResource installs it, Import-Module GuestFs finds it by name, and a cmdlet runs' {
        $img = Join-Path $home2 'pkg.img'
        $script = @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name GfsLocal -Uri '$((Resolve-Path $feed).Path)' -Trusted
Install-PSResource -Name GuestFs -Repository GfsLocal -Scope CurrentUser -TrustRepository -Quiet
`$m = Import-Module GuestFs -PassThru
"module=`$(`$m.ModuleBase)"
New-GuestDiskImage -Path '$img' -Size 16MB | Out-Null
"image=`$((Get-Item '$img').Length)"
"@
        $saved = $env:HOME, $env:PSModulePath
        try {
            $env:HOME = $home2
            $env:PSModulePath = $null
            $out = & $pwshCmd[0] @($pwshCmd | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1
            $code = $LASTEXITCODE
        }
        finally { $env:HOME, $env:PSModulePath = $saved }
        $code | Should -Be 0 -Because ($out -join "`n")
        $moduleLine = @($out | Where-Object { "$_" -like 'module=*' })[0]
        "$moduleLine" | Should -BeLike "module=$home2/*GuestFs*" -Because 'the module is loaded from where Install-PSResource put it'
        @($out | Where-Object { "$_" -like 'image=*' })[0] | Should -Be "image=$(16MB)"
    }
}
