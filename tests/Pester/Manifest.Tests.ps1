Describe 'Module manifest and surface' -Tag 'Module' {
    BeforeDiscovery { }
    BeforeAll {
        $script:manifest = if ($env:GUESTFS_TEST_MODULE -and $env:GUESTFS_TEST_MODULE.EndsWith('.psd1')) { $env:GUESTFS_TEST_MODULE } else { Join-Path $PSScriptRoot '../../out/GuestFs/GuestFs.psd1' }
        $script:info = Test-ModuleManifest -Path $manifest -ErrorAction Stop
        Import-Module $manifest -Force
        $script:module = Get-Module GuestFs
    }

    It 'passes Test-ModuleManifest with the required fields' {
        $info.RootModule | Should -Be 'GuestFs.PowerShell.dll'
        $info.PowerShellVersion | Should -Be ([version]'7.4')
        $info.CompatiblePSEditions | Should -Be @('Core')
        $info.Version | Should -Not -Be ([version]'0.0.0') -Because 'build.ps1 fills the version in from Directory.Build.props'
        $info.ExportedFormatFiles | Should -Not -BeNullOrEmpty
    }

    It 'exports exactly the cmdlets the assembly defines' {
        $assembly = [GuestFs.PowerShell.GuestDisk].Assembly
        $defined = $assembly.GetTypes() | Where-Object { $_.IsPublic -and -not $_.IsAbstract -and $_.IsSubclassOf([System.Management.Automation.Cmdlet]) } |
            ForEach-Object { $a = $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]; "$($a.VerbName)-$($a.NounName)" } | Sort-Object
        ($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be $defined
        ($info.ExportedCmdlets.Keys | Sort-Object) | Should -Be $defined
    }

    It 'puts Select-String, Get-FileHash and Get-Content in front of the cmdlets, unless $GuestFsProxyCoreCommands is $false' {
        ($module.ExportedFunctions.Keys | Sort-Object) | Should -Be @('Get-Content', 'Get-FileHash', 'Select-String')
        foreach ($optOut in $false, $true) {
            $ps = [PowerShell]::Create()
            try {
                if ($optOut) { $null = $ps.AddScript('$global:GuestFsProxyCoreCommands = $false').AddStatement() }
                $null = $ps.AddCommand('Import-Module').AddArgument($manifest).AddStatement().AddScript('(Get-Command Get-Content, Get-FileHash, Select-String).CommandType -join ","')
                $ps.Invoke() | Should -Be ($(if ($optOut) { 'Cmdlet,Cmdlet,Cmdlet' } else { 'Function,Function,Function' }))
            }
            finally { $ps.Dispose() }
        }
    }

    It 'uses approved verbs only' {
        $approved = (Get-Verb).Verb
        foreach ($c in $module.ExportedCmdlets.Keys) { $approved | Should -Contain ($c -split '-')[0] }
    }

    It 'loads its type data (PSIsContainer on guest items, as on FileSystem items)' {
        $o = [GuestFs.Engine.Library.GuestFileInfo]@{ Name = 'd'; FullName = '/d'; UnixMode = 0x41ED; ItemType = 'Directory' }
        $o.PSIsContainer | Should -BeTrue
        $info.ExportedTypeFiles | Should -Not -BeNullOrEmpty
    }

    It 'loads its format data (a GuestFileInfo renders with the ls -l view)' {
        $o = [GuestFs.Engine.Library.GuestFileInfo]@{ Name = 'x'; FullName = '/x'; DirectoryName = '/'; UnixMode = 0x81A4; Length = 5 }
        ($o | Format-Table | Out-String) | Should -Match '-rw-r--r--'
    }
}
