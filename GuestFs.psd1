@{
    RootModule           = 'GuestFs.PowerShell.dll'
    # build.ps1 fills in the version from Directory.Build.props (the one source).
    ModuleVersion        = '0.0.0'
    GUID                 = '6f0c7a52-3d2e-4b8e-9b7a-1d4c2e9f5a31'
    Author               = 'GuestFs developers'
    CompanyName          = 'GuestFs'
    Copyright            = '(c) GuestFs developers'
    Description          = 'Open virtual-machine disk images (raw, qcow2, ...) from PowerShell: mount the filesystems inside and read, copy and change files, through the libguestfs appliance driven from managed code.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('GuestFs.format.ps1xml')
    TypesToProcess       = @('GuestFs.types.ps1xml')
    CmdletsToExport      = @(
        'Open-GuestDisk', 'Get-GuestDisk', 'Close-GuestDisk', 'New-GuestDiskImage',
        'Get-GuestFileSystem', 'Mount-GuestFs', 'Dismount-GuestFs', 'Get-GuestMount',
        'Get-GuestChildItem', 'Get-GuestItem', 'Test-GuestPath',
        'Get-GuestContent', 'Set-GuestContent', 'Add-GuestContent',
        'Copy-GuestItem', 'New-GuestItem', 'Remove-GuestItem', 'Move-GuestItem', 'Rename-GuestItem', 'Set-GuestItem',
        'Invoke-GuestFsApi', 'Get-GuestFsApi', 'Get-GuestOSInfo',
        'Select-GuestString',
        'Get-GuestDiskUsage', 'Get-GuestFileHash', 'Get-GuestJournal', 'Find-GuestDeletedItem', 'Compare-GuestItem',
        'Optimize-GuestDisk', 'Resize-GuestDisk', 'Reset-GuestImage', 'Get-GuestImageResetOperation',
        'Set-GuestHostname', 'Set-GuestTimeZone', 'Add-GuestSshAuthorizedKey', 'Set-GuestUserPassword', 'Invoke-GuestCommand', 'Add-GuestFirstBootCommand', 'Install-GuestPackage',
        'Export-GuestRegistry', 'Import-GuestRegistry'
    )
    # Select-String, Get-FileHash and Get-Content (for -Tail) in front of the cmdlets, for guest files
    # (src/GuestFs.PowerShell/Proxies/GuestFs.Proxies.psm1; about_GuestFs_Provider).
    NestedModules        = @('GuestFs.Proxies.psm1')
    FunctionsToExport    = @('Select-String', 'Get-FileHash', 'Get-Content')
    VariablesToExport    = @()
    AliasesToExport      = @('gcgi')
    PrivateData          = @{
        PSData = @{
            Tags       = @('libguestfs', 'qemu', 'disk-image', 'qcow2', 'virtualization', 'Linux')
        }
    }
}
