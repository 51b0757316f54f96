BeforeDiscovery {
    $manifest = if ($env:GUESTFS_TEST_MODULE -and $env:GUESTFS_TEST_MODULE.EndsWith('.psd1')) { $env:GUESTFS_TEST_MODULE } else { Join-Path $PSScriptRoot '../../out/GuestFs/GuestFs.psd1' }
    Import-Module $manifest -Force
    $script:commands = (Get-Module GuestFs).ExportedCmdlets.Keys | Sort-Object | ForEach-Object { @{ Name = $_ } }
}

Describe 'Help for <Name>' -Tag 'Module' -ForEach $commands {
    BeforeAll {
        $script:help = Get-Help $Name -Full
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        $script:parameters = (Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin $common }
    }

    It 'has a synopsis of its own' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match '^\s*\S+-\S+\s*(\[|$)' -Because 'a generated synopsis is only the syntax'
    }

    It 'has a description' {
        ($help.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty
    }

    It 'documents every parameter' {
        foreach ($p in $parameters) {
            $h = $help.parameters.parameter | Where-Object Name -eq $p
            $h | Should -Not -BeNullOrEmpty -Because "-$p needs help"
            ($h.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$p needs a description"
        }
    }

    It 'has at least two examples with code' {
        @($help.Examples.Example).Count | Should -BeGreaterOrEqual 2
        foreach ($e in $help.Examples.Example) { $e.Code | Should -Not -BeNullOrEmpty }
    }
}

Describe 'about_GuestFs' -Tag 'Module' {
    It 'is installed with the module' {
        $about = Get-Help about_GuestFs
        ($about | Out-String) | Should -Match 'LIBGUESTFS_'
    }
}

Describe 'about_GuestFs_Provider' -Tag 'Module' {
    It 'is installed with the module and covers the drive parameters' {
        $about = Get-Help about_GuestFs_Provider | Out-String
        $about | Should -Match 'New-PSDrive'
        $about | Should -Match '-ImagePath'
        $about | Should -Match 'GuestDiskClosed'
    }
}

Describe 'about_GuestFs_Fleet' -Tag 'Module' {
    It 'is installed with the module and covers the throttle and remoting pattern' {
        $about = Get-Help about_GuestFs_Fleet | Out-String
        $about | Should -Match '-ThrottleLimit'
        $about | Should -Match 'Copy-Item .*-ToSession'
        $about | Should -Match 'Invoke-Command -HostName'
        $about | Should -Match '600 MB per session'
    }
}

Describe 'about_GuestFs_RemoteDisks' -Tag 'Module', 'RemoteDisks' {
    It 'is installed with the module and covers the schemes, read-only and auth' {
        $about = Get-Help about_GuestFs_RemoteDisks | Out-String
        foreach ($s in 'nbd://', 'nbd\+unix:///', 'ssh://', 'https://', 'ftps://', 'iscsi://', 'rbd://', 'gluster://') { $about | Should -Match $s }
        $about | Should -Match 'ssh-agent'
        $about | Should -Match 'SkipCertificateCheck'
        $about | Should -Match 'nothing is ever sent to the server'
    }
}
