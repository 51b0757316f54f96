Describe 'New-GuestDiskImage' -Tag 'Appliance' {
    BeforeAll { . $PSScriptRoot/TestSupport.ps1 }

    It 'creates a GPT image with a labelled vfat partition' {
        $img = "$TestDrive/gpt.img"
        $f = New-GuestDiskImage -Path $img -Size 64MB -PartitionStyle GPT -FileSystem vfat -Label DATA
        $f | Should -BeOfType [IO.FileInfo]
        $f.Length | Should -Be 64MB
        $bytes = [byte[]]::new(4096)
        $s = [IO.File]::OpenRead($img); try { $null = $s.Read($bytes, 0, 4096) } finally { $s.Dispose() }
        [Text.Encoding]::ASCII.GetString($bytes, 512, 8) | Should -Be 'EFI PART'
        # The first GPT entry (at LBA 2) holds the partition's start LBA; its boot sector carries the FAT label.
        $start = [BitConverter]::ToInt64($bytes, 1024 + 32)
        $start | Should -BeGreaterThan 33
        $boot = [byte[]]::new(512)
        $s = [IO.File]::OpenRead($img); try { $null = $s.Seek($start * 512, 'Begin'); $null = $s.Read($boot, 0, 512) } finally { $s.Dispose() }
        [Text.Encoding]::ASCII.GetString($boot) | Should -Match 'DATA'
        [Text.Encoding]::ASCII.GetString($boot) | Should -Match 'FAT'
        Get-ChildItem $TestDrive -Filter '*partial*' | Should -BeNullOrEmpty
    }

    It 'creates an empty qcow2 image without launching' {
        $img = "$TestDrive/empty.qcow2"
        New-GuestDiskImage -Path $img -Size 1GB -Format qcow2 -PartitionStyle None | Out-Null
        $info = & qemu-img info --output json $img | ConvertFrom-Json
        $info.format | Should -Be 'qcow2'
        $info.'virtual-size' | Should -Be 1GB
    }

    It 'refuses to overwrite an existing file without -Force' {
        $img = "$TestDrive/exists.img"
        Set-Content $img 'precious'
        { New-GuestDiskImage -Path $img -Size 16MB -PartitionStyle None } | Should -Throw -ErrorId 'ImageExists,GuestFs.PowerShell.Commands.NewGuestDiskImageCommand'
        Get-Content $img | Should -Be 'precious'
    }

    It '-WhatIf creates nothing' {
        New-GuestDiskImage -Path "$TestDrive/whatif.img" -Size 16MB -WhatIf
        Test-Path "$TestDrive/whatif.img" | Should -BeFalse
    }

    It 'rejects -Label without -FileSystem' {
        { New-GuestDiskImage -Path "$TestDrive/l.img" -Size 16MB -Label x } | Should -Throw -ErrorId 'LabelWithoutFileSystem,GuestFs.PowerShell.Commands.NewGuestDiskImageCommand'
    }
}
